package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/cost"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/ui"
)

type syncOptions struct {
	compress, encrypt boolFlag
	desc              string
	partSize          string
	dryRun            bool
	exclude           []string
	excludeFrom       []string
	listUploads       bool
	abortUploads      bool
	packSize          string
	packThreshold     string
	changingFiles     string
	catalogueClass    string
	keepSnapshots     int
	costs             costOptions
}

func (a *app) syncCommand() *cobra.Command {
	o := &syncOptions{compress: boolFlag{value: true}}
	cmd := &cobra.Command{
		Use:   "sync [flags] SRC [SRC...]",
		Short: "Upload new and changed files (the default command)",
		Long: `Upload every new or changed file under each SRC (a file or a folder) to the
target, and record it in the catalogue. A file is new or changed when its path,
size or modification time differ from the catalogue's latest record for this
target. A file whose content the target already holds (renamed, moved, copied) is
recorded without uploading it again. Files gone from SRC are marked deleted in the
catalogue; their archives are kept. Folders (empty ones too) and symlinks are
recorded with their mode, times, owner and group (a symlink as its target text,
never followed; only a SRC that is a symlink is followed); a new version is
recorded when only the mode or owner changed, with nothing uploaded. FIFOs,
sockets and devices are skipped; each skip is reported.

Small files travel in packs: objects of --pack-size bytes (64M) holding many
files, so a million files cost a few hundred stored objects, not a million.
Files larger than --pack-threshold (1M) are cut into content-defined chunks, so
a large file that changes a little uploads a little. A file that changes while
it is read is tried again at the end of the run; --changing-files says what to
do if it changes again: fail (the default: nothing torn is recorded) or store
(the bytes as read, flagged in the catalogue).

Encryption is on when a key is given (or the target's backups are encrypted),
unless --encrypt false. Compression (zstd) is on unless --compress false.`,
		Example: `  grsync --local-store /mnt/backup --encryption-key-file ~/.glacier-keys/backup.key ~/Documents
  grsync --vault my-vault --region eu-west-1 --compress true --encrypt true \
         --encryption-key-file ~/.glacier-keys/backup.key --db ~/glacier.db ~/Documents
  grsync sync --dry-run --exclude '*.tmp' --exclude-from ~/.grsync-exclude ~/Documents`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSync(cmd, o, args)
		},
	}
	f := cmd.Flags()
	addBoolFlag(f, &o.compress, "compress", "compress with zstd before encrypting: true or false")
	addBoolFlag(f, &o.encrypt, "encrypt", "encrypt with age before uploading: true or false (default: true when a key is given)")
	f.StringVar(&o.desc, "desc", "", "a description stored (encrypted) with each archive")
	f.StringVar(&o.partSize, "part-size", "1048576", "upload part size in bytes: 1 MiB × a power of two, up to 4 GiB (raised automatically for large files)")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be uploaded (counts, bytes, and the files: all with -v, else up to 20); change nothing")
	f.StringArrayVar(&o.exclude, "exclude", nil, "leave out paths matching PATTERN (repeatable; see --help)")
	f.StringArrayVar(&o.excludeFrom, "exclude-from", nil, "read exclude patterns from FILE, one per line")
	f.BoolVar(&o.listUploads, "list-incomplete-uploads", false, "list unfinished multipart uploads in the target")
	f.BoolVar(&o.abortUploads, "abort-incomplete-uploads", false, "abort all unfinished multipart uploads in the target")
	f.StringVar(&o.packSize, "pack-size", "64M", "size of the objects small files and chunks are packed into (0: one object per file)")
	f.StringVar(&o.packThreshold, "pack-threshold", "1M", "files up to this size are stored whole (above 8M: read twice); larger ones in content-defined chunks")
	f.StringVar(&o.changingFiles, "changing-files", "fail", "a file that changes while read, twice: fail, or store it as read")
	f.StringVar(&o.catalogueClass, "catalogue-class", "STANDARD", "S3 class of catalogue snapshots and version records: STANDARD or GLACIER_IR (readable without a restore)")
	addKeepSnapshotsFlag(f, &o.keepSnapshots)
	f.BoolVarP(&a.g.verbose, "verbose", "v", false, "log every file handled; a dry run lists every file it would upload")
	o.costs.addFlags(f, true)
	return cmd
}

// packOptions are sync's packing and changing-file settings, checked.
type packOptions struct {
	size, threshold int64
	changing        engine.ChangingPolicy
	catalogueClass  string
	keepSnapshots   int
}

func (o *syncOptions) packOptions() (packOptions, error) {
	var p packOptions
	var err error
	if p.size, err = parseSize(o.packSize); err != nil || (p.size != 0 && (p.size < 1<<20 || p.size > 4<<30)) {
		return p, usagef("use 0 (one object per file) or a size from 1M to 4G, e.g. --pack-size 64M", "invalid --pack-size %q", o.packSize)
	}
	if p.threshold, err = parseSize(o.packThreshold); err != nil || p.threshold < 64<<10 {
		return p, usagef("use a size from 64k to 1024G, e.g. --pack-threshold 1M (the default; larger files are chunked)", "invalid --pack-threshold %q", o.packThreshold)
	}
	switch strings.ToLower(o.changingFiles) {
	case "fail":
		p.changing = engine.ChangingFail
	case "store":
		p.changing = engine.ChangingStore
	default:
		return p, usagef("use --changing-files fail or --changing-files store", "invalid --changing-files %q", o.changingFiles)
	}
	switch c := strings.ToUpper(o.catalogueClass); c {
	case "STANDARD", "GLACIER_IR":
		p.catalogueClass = c
	default:
		return p, usagef("use STANDARD or GLACIER_IR: the catalogue's copies must be readable without a restore",
			"invalid --catalogue-class %q", o.catalogueClass)
	}
	if err := checkKeepSnapshots(o.keepSnapshots); err != nil {
		return p, err
	}
	p.keepSnapshots = o.keepSnapshots
	return p, nil
}

// parseSize reads a size: a number of bytes, or with a k, M or G suffix
// (1024-based; "B" or "iB" may follow).
func parseSize(s string) (int64, error) {
	t, m := sizeSuffix(s, 1)
	mult := int64(m)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// parsePartSize validates a part size: 1 MiB times a power of two, up to 4 GiB.
func parsePartSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	const mib = 1 << 20
	if err == nil && n >= mib && n <= 4<<30 && n%mib == 0 && (n/mib)&(n/mib-1) == 0 {
		return n, nil
	}
	return 0, usagef("use 1 MiB times a power of two, e.g. 1048576, 4194304 or 16777216; grsync raises it for large files by itself",
		"invalid --part-size %q", s)
}

func (a *app) runSync(cmd *cobra.Command, o *syncOptions, args []string) error {
	if err := noEmptyArgs(args, "SRC"); err != nil {
		return err
	}
	ps, err := parsePartSize(o.partSize)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("part-size") {
		a.partSize = ps
	}
	pk, err := o.packOptions()
	if err != nil {
		return err
	}
	prices, err := o.costs.load()
	if err != nil {
		return err
	}
	if o.listUploads || o.abortUploads {
		if err := a.runUploads(o.abortUploads); err != nil {
			return err
		}
		if len(args) == 0 {
			return nil
		}
	}
	if len(args) == 0 {
		return usagef("name at least one file or folder to back up, e.g. grsync --local-store /mnt/backup ~/Documents", "no SRC given")
	}
	var sources []string
	for _, s := range args {
		abs, err := filepath.Abs(s)
		if err != nil {
			return asUsage(err, "check the SRC path")
		}
		fi, err := os.Lstat(abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("check the path; nothing was uploaded", "SRC %s does not exist", s)
			}
			return usagef("check the path and its permissions; nothing was uploaded", "SRC %s: %v", s, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// A symlink named as SRC is followed: it must lead somewhere.
			if _, err := os.Stat(abs); err != nil {
				return usagef("fix the symlink, or name the file or folder it should lead to; nothing was uploaded",
					"SRC %s is a symlink that leads nowhere: %v", s, err)
			}
		}
		sources = append(sources, filepath.Clean(abs))
	}
	sources, notes := engine.DedupSources(sources)
	for _, n := range notes {
		a.log.Info("SRC " + n.String())
	}
	patterns := append([]string(nil), o.exclude...)
	for _, f := range o.excludeFrom {
		p, err := engine.ReadExcludeFile(f)
		if err != nil {
			return asUsage(err, "check the --exclude-from path")
		}
		patterns = append(patterns, p...)
	}
	ex, err := engine.NewExcluder(patterns)
	if err != nil {
		return asUsage(err, "fix the pattern; see grsync sync --help")
	}
	if o.dryRun || o.costs.hasMax {
		// The plan and its price come from the catalogue alone (read if
		// it exists), before anything is opened for writing or uploaded.
		if err := a.dryRunSync(cmd, sources, ex, pk, prices, &o.costs, o.dryRun); err != nil || o.dryRun {
			return err
		}
	}
	if o.encrypt.set && o.encrypt.value && a.g.key == "" && a.g.keyFile == "" && os.Getenv(keyEnv) == "" {
		return usagef("give the key with --encryption-key-file FILE (make one with: grsync keygen my.key)",
			"--encrypt true but no key was given")
	}

	a.lockMaySet = true
	s, err := a.openSessionFor(writeStore)
	if err != nil {
		return err
	}
	defer s.Close()
	encrypt := s.key != nil || s.target.Encrypted
	if o.encrypt.set {
		encrypt = o.encrypt.value
	}
	switch {
	case encrypt && s.key == nil:
		return usagef("give the key with --encryption-key-file FILE (make one with: grsync keygen my.key)",
			"encryption is on for %s but no key was given", s.target.Location)
	case !encrypt && s.target.Encrypted:
		return usagef("drop --encrypt false, or back up unencrypted files to another target",
			"the backups in %s are encrypted; refusing to add unencrypted archives, which would show file names and contents to the storage provider", s.target.Location)
	}
	// The store's marker decides before anything is uploaded, whatever the
	// catalogue says.
	if err := a.checkStore(s, engine.StoreUse{Upload: true, Encrypt: encrypt, Look: true}); err != nil {
		return err
	}
	if !encrypt {
		a.log.Warn("encryption is off: the storage provider can read file names and contents; use --encrypt true with --encryption-key-file")
	}
	if encrypt && s.target.KeyFingerprint == "" {
		if err := s.cat.SetKey(s.target.ID, s.key.Fingerprint(), true); err != nil {
			return err
		}
	}

	cfg := a.engineConfig(s)
	cfg.Encrypt, cfg.Compress, cfg.Desc = encrypt, o.compress.value, o.desc
	cfg.PackSize, cfg.NoPacking, cfg.PackThreshold = pk.size, pk.size == 0, pk.threshold
	if cfg.HotClass != "" {
		cfg.HotClass = pk.catalogueClass
	}
	prog := a.progress("sync", "backing up")
	cfg.Observer = prog
	start := time.Now()
	stopCount := a.countWork(cmd.Context(), cfg, sources, ex, prog)
	res, err := engine.Sync(cmd.Context(), cfg, engine.SyncOptions{Sources: sources, Exclude: ex, Stop: a.stop,
		ChangingFiles: pk.changing, Own: a.ownFiles(s.target.Location), Snapshots: engine.SnapshotPolicy{Keep: pk.keepSnapshots}})
	stopCount()
	prog.Finish()
	if err != nil {
		return err
	}
	a.out.Summary(newSyncSummary(s.target.Location, res, time.Since(start)))
	a.reportLockFailures(res.Locks)
	if len(res.Failures) > 0 || res.Interrupted {
		a.exitCode = exitPartial
	}
	return nil
}

// countWork counts the work of a sync beside it, so that the progress
// display knows the total early (see engine.CountWork), when a display
// shows it. It returns a function that stops the count and waits for it.
func (a *app) countWork(ctx context.Context, cfg *engine.Config, sources []string, ex *engine.Excluder, prog *ui.Progress) func() {
	if a.g.quiet || (a.json != nil && !a.g.jsonProgress) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		files, bytes, err := engine.CountWork(ctx, cfg, sources, ex, a.ownFiles(cfg.Target.Location))
		if err == nil {
			prog.Counted(files, bytes)
		} else if ctx.Err() == nil {
			a.log.Debug("counting the work failed; the total is known when the walk ends", "err", err)
		}
	}()
	return func() {
		cancel()
		<-finished
		<-done
	}
}

// syncSummary is the summary of a sync (JSON message "summary").
type syncSummary struct {
	Command         string        `json:"command"` // "sync"
	Target          string        `json:"target"`
	Interrupted     bool          `json:"interrupted"`
	DurationSeconds float64       `json:"duration_seconds"`
	Uploaded        int           `json:"uploaded"`
	UploadedBytes   int64         `json:"uploaded_bytes"` // their source bytes
	StoredBytes     int64         `json:"stored_bytes"`   // after compression and encryption
	Objects         int           `json:"objects"`        // objects (packs) stored
	ChangedStored   int           `json:"changed_stored"` // changed while read, stored as read
	Deduplicated    int           `json:"deduplicated"`
	Unchanged       int           `json:"unchanged"`
	MetaChanged     int           `json:"mode_changed"` // mode or owner alone changed
	Folders         int           `json:"folders"`      // folder versions recorded (new or changed)
	Symlinks        int           `json:"symlinks"`     // symlink versions recorded (new or changed)
	Deleted         int           `json:"deleted"`
	DeletedFolders  int           `json:"deleted_folders"`
	DeletedSymlinks int           `json:"deleted_symlinks"`
	Skipped         int           `json:"skipped"`
	LeftOut         leftOut       `json:"left_out,omitempty"`
	Failed          int           `json:"failed"`
	Failures        []failureJSON `json:"failures"`
	Snapshot        snapshotJSON  `json:"snapshot"`
	// Locks: on a target with an Object Lock, the locks extended.
	Locks *lockJSON `json:"locks,omitempty"`
	// NotDeleted: objects of failed uploads the store would not delete.
	NotDeleted []undeletedJSON `json:"not_deleted,omitempty"`
	took       time.Duration
	failures   []engine.Failure
}

func newSyncSummary(target string, r engine.SyncResult, took time.Duration) syncSummary {
	return syncSummary{Command: "sync", Target: target, Interrupted: r.Interrupted, DurationSeconds: seconds(took),
		Uploaded: r.Uploaded, UploadedBytes: r.UploadedBytes, StoredBytes: r.StoredBytes,
		Objects: r.Objects, ChangedStored: r.ChangedStored, Deduplicated: r.Deduplicated,
		Unchanged: r.Unchanged, MetaChanged: r.MetaChanged, Folders: r.Folders, Symlinks: r.Symlinks,
		Deleted: r.Deleted, DeletedFolders: r.DeletedFolders, DeletedSymlinks: r.DeletedSymlinks, Skipped: r.Skipped, LeftOut: r.LeftOut,
		Failed:   len(r.Failures),
		Failures: failuresJSON(r.Failures), took: took, failures: r.Failures,
		Locks: newLockJSON(r.Locks), NotDeleted: undeletedList(r.Undeleted), Snapshot: newSnapshotJSON(r.Snapshot, r.SnapshotErr)}
}

func (syncSummary) MessageType() string { return "summary" }

func (r syncSummary) WriteText(w io.Writer) {
	state := "finished"
	if r.Interrupted {
		state = "interrupted (run it again to finish)"
	}
	fmt.Fprintf(w, "sync to %s %s in %s\n", r.Target, state, r.took.Round(time.Millisecond))
	fmt.Fprintf(w, "  uploaded      %s (%s of new content, %s stored in %s)\n", ui.Count(r.Uploaded, "file"), ui.Bytes(r.UploadedBytes),
		ui.Bytes(r.StoredBytes), ui.Count(r.Objects, "object"))
	if r.ChangedStored > 0 {
		fmt.Fprintf(w, "  changing      %s changed while read; stored as read (--changing-files=store)\n", ui.Count(r.ChangedStored, "file"))
	}
	fmt.Fprintf(w, "  deduplicated  %s (content already in the target)\n", ui.Count(r.Deduplicated, "file"))
	fmt.Fprintf(w, "  unchanged     %s\n", ui.Count(r.Unchanged, "file"))
	if r.MetaChanged > 0 {
		fmt.Fprintf(w, "  mode changed  %s (mode or owner only: recorded, nothing uploaded)\n", ui.Count(r.MetaChanged, "file"))
	}
	if r.Folders > 0 {
		fmt.Fprintf(w, "  folders       %s recorded (new, or their mode, time or owner changed; nothing uploaded)\n", ui.Count(r.Folders, "folder"))
	}
	if r.Symlinks > 0 {
		fmt.Fprintf(w, "  symlinks      %s recorded (new or changed; the link itself, never followed)\n", ui.Count(r.Symlinks, "symlink"))
	}
	if r.Deleted > 0 || r.DeletedFolders > 0 || r.DeletedSymlinks > 0 {
		what := ui.Count(r.Deleted, "file")
		if r.DeletedFolders > 0 {
			what += ", " + ui.Count(r.DeletedFolders, "folder")
		}
		if r.DeletedSymlinks > 0 {
			what += ", " + ui.Count(r.DeletedSymlinks, "symlink")
		}
		fmt.Fprintf(w, "  deleted       %s (gone from the source; marked in the catalogue, archives kept)\n", what)
	}
	if r.Skipped > 0 {
		fmt.Fprintf(w, "  skipped       %d (FIFOs, sockets, devices)\n", r.Skipped)
	}
	r.LeftOut.writeText(w, "  left out      ")
	writeUndeleted(w, "  not deleted   ", r.NotDeleted)
	r.Locks.writeText(w, "  locks         ", false)
	r.Snapshot.writeText(w, "  catalogue     ")
	fmt.Fprintf(w, "  failed        %s\n", ui.Count(r.Failed, "file"))
	writeFailures(w, r.failures)
}

// dryRunList is the observer of a dry run: it lists the files the sync
// would upload, each as it is found with -v or --json, otherwise the first
// few, printed at the end if there are no more than that.
type dryRunList struct {
	engine.NopObserver
	out      ui.Output
	stream   bool
	limit    int
	mu       sync.Mutex
	lastSize int64 // the size Found just reported, for the Done that follows it
	held     []wouldUpload
	count    int
	sizes    map[int64]int64 // how many files of each size would be uploaded
}

// wouldUpload is one file a dry run would upload (JSON "would_upload").
type wouldUpload struct {
	ui.Path
	Size int64 `json:"size"`
}

func (wouldUpload) MessageType() string { return "would_upload" }
func (f wouldUpload) WriteText(w io.Writer) {
	fmt.Fprintf(w, "  would upload %s (%s)\n", ui.Name(f.Path.Path), ui.Bytes(f.Size))
}

// The engine calls Found(1, size) then Done(path, "would upload") for each
// file, one after the other from the walk.
func (d *dryRunList) Found(_ int, n int64) {
	d.mu.Lock()
	d.lastSize = n
	d.mu.Unlock()
}

func (d *dryRunList) Done(path, status string, err error) {
	if status != "would upload" || err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	f := wouldUpload{Path: ui.NewPath(path), Size: d.lastSize}
	d.count++
	d.sizes[d.lastSize]++
	switch {
	case d.stream:
		d.out.Result(f)
	case len(d.held) < d.limit:
		d.held = append(d.held, f)
	}
}

// flush prints the held files when they are all there were; it reports
// whether files went unlisted.
func (d *dryRunList) flush() bool {
	if d.stream || d.count > d.limit {
		return !d.stream && d.count > 0
	}
	for _, f := range d.held {
		d.out.Result(f)
	}
	return false
}

// dryRunSummary is the summary of a dry run (JSON "summary", dry_run true).
type dryRunSummary struct {
	Command          string        `json:"command"` // "sync"
	DryRun           bool          `json:"dry_run"`
	Target           string        `json:"target"`
	WouldUpload      int           `json:"would_upload"`
	WouldUploadBytes int64         `json:"would_upload_bytes"`
	Unchanged        int           `json:"unchanged"`
	Folders          int           `json:"folders"`  // folder versions it would record
	Symlinks         int           `json:"symlinks"` // symlink versions it would record
	Skipped          int           `json:"skipped"`
	LeftOut          leftOut       `json:"left_out,omitempty"`
	Failed           int           `json:"failed"`
	Failures         []failureJSON `json:"failures"`
	unlisted         bool
	failures         []engine.Failure
}

func (dryRunSummary) MessageType() string { return "summary" }

func (r dryRunSummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "dry run for %s: nothing was uploaded or recorded\n", r.Target)
	fmt.Fprintf(w, "  would upload %s (%s) (files whose content the target already holds are deduplicated then)\n", ui.Count(r.WouldUpload, "file"), ui.Bytes(r.WouldUploadBytes))
	if r.unlisted {
		fmt.Fprintf(w, "               list them with -v\n")
	}
	fmt.Fprintf(w, "  unchanged    %s\n", ui.Count(r.Unchanged, "file"))
	if r.Folders > 0 || r.Symlinks > 0 {
		fmt.Fprintf(w, "  would record %s and %s (new or changed; nothing to upload)\n", ui.Count(r.Folders, "folder"), ui.Count(r.Symlinks, "symlink"))
	}
	if r.Skipped > 0 {
		fmt.Fprintf(w, "  skipped      %d (FIFOs, sockets, devices)\n", r.Skipped)
	}
	r.LeftOut.writeText(w, "  left out     ")
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failed       %s\n", ui.Count(r.Failed, "file"))
		writeFailures(w, r.failures)
	}
}

// dryRunSync counts what a sync would upload without writing anything: the
// catalogue is only read, and only if it exists. It prices the upload and
// refuses one above --max-cost. Unless show, it prints only a refusal (the
// check a sync with --max-cost makes before it starts).
func (a *app) dryRunSync(cmd *cobra.Command, sources []string, ex *engine.Excluder, pk packOptions, prices *cost.Prices, co *costOptions, show bool) error {
	p, err := a.peekTarget()
	if err != nil {
		return err
	}
	defer p.close()
	loc := p.loc
	out := a.out
	if !show {
		out = ui.NewTextOutput(io.Discard, true)
	}
	list := &dryRunList{out: out, stream: a.g.verbose || a.out.JSON(), limit: 20, sizes: map[int64]int64{}}
	cfg := &engine.Config{Log: a.log, Observer: list}
	if p.found {
		cfg.Catalog, cfg.Target = p.cat, p.target
	}
	if loc == "" {
		return usagef("give --local-store DIR, --vault NAME --region R, or --bucket NAME", "no target")
	}
	res, err := engine.Sync(cmd.Context(), cfg, engine.SyncOptions{Sources: sources, Exclude: ex, DryRun: true, Stop: a.stop, Own: a.ownFiles(loc)})
	if err != nil {
		return err
	}
	est, err := a.estimateSync(loc, list.sizes, pk, prices)
	if err != nil {
		return asUsage(err, "correct the class with a prices file (--prices), see docs/COSTS.md")
	}
	if show {
		unlisted := list.flush()
		if est.priced && out.JSON() { // the summary is the last line
			out.Summary(newSyncPrice(loc, est, prices))
		}
		out.Summary(dryRunSummary{Command: "sync", DryRun: true, Target: loc, WouldUpload: res.Pending,
			WouldUploadBytes: res.PendingBytes, Unchanged: res.Unchanged, Folders: res.Folders, Symlinks: res.Symlinks,
			Skipped: res.Skipped, LeftOut: res.LeftOut,
			Failed: len(res.Failures), Failures: failuresJSON(res.Failures), unlisted: unlisted, failures: res.Failures})
		if est.priced && !out.JSON() {
			out.Summary(newSyncPrice(loc, est, prices))
		}
		if len(res.Failures) > 0 {
			a.exitCode = exitPartial
		}
	}
	if err := co.check("sync", est.held()); err != nil {
		a.exitCode = exitOK
		if !show {
			a.out.Summary(newSyncPrice(loc, est, prices))
		}
		return err
	}
	return nil
}

// ownFiles names grsync's own files, which a sync to location leaves out
// of its sources: the catalogue, and the store when it is a local folder.
func (a *app) ownFiles(location string) engine.OwnFiles {
	o := engine.OwnFiles{Catalog: a.g.db}
	if dir, ok := strings.CutPrefix(location, "local:"); ok {
		o.Stores = append(o.Stores, dir)
	}
	return o
}

// leftOut counts grsync's own files found in the sources and left out, by
// kind (engine.LeftCatalog, LeftStore, LeftTemp); JSON "left_out".
type leftOut map[string]int

// writeText says in one line which of grsync's own files were left out.
func (l leftOut) writeText(w io.Writer, label string) {
	if len(l) == 0 {
		return
	}
	var parts []string
	if n := l[engine.LeftCatalog]; n > 0 {
		parts = append(parts, fmt.Sprintf("the catalogue (%s: it, its journal, lock and copies)", ui.Count(n, "file")))
	}
	if l[engine.LeftStore] > 0 {
		parts = append(parts, "the local store")
	}
	if n := l[engine.LeftTemp]; n > 0 {
		parts = append(parts, ui.Count(n, "temporary file")+" of interrupted restores")
	}
	fmt.Fprintf(w, "%sgrsync's own files in the sources: %s\n", label, strings.Join(parts, ", "))
}
