package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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
catalogue; their archives are kept. Symlinks are not followed and not backed up;
FIFOs, sockets and devices are skipped; each skip is reported.

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
	addBoolFlag(f, &o.compress, "compress", "compress with zstd before encrypting (default true)")
	addBoolFlag(f, &o.encrypt, "encrypt", "encrypt with age before uploading (default: true when a key is given)")
	f.StringVar(&o.desc, "desc", "", "a description stored (encrypted) with each archive")
	f.StringVar(&o.partSize, "part-size", "1048576", "upload part size in bytes: 1 MiB × a power of two, up to 4 GiB (raised automatically for large files)")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "show what would be uploaded (counts and bytes); change nothing")
	f.StringArrayVar(&o.exclude, "exclude", nil, "leave out paths matching PATTERN (repeatable; see --help)")
	f.StringArrayVar(&o.excludeFrom, "exclude-from", nil, "read exclude patterns from FILE, one per line")
	f.BoolVar(&o.listUploads, "list-incomplete-uploads", false, "list unfinished multipart uploads in the target")
	f.BoolVar(&o.abortUploads, "abort-incomplete-uploads", false, "abort all unfinished multipart uploads in the target")
	return cmd
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
	ps, err := parsePartSize(o.partSize)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("part-size") {
		a.partSize = ps
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
		if _, err := os.Lstat(abs); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("check the path; nothing was uploaded", "SRC %s does not exist", s)
			}
			return usagef("check the path and its permissions; nothing was uploaded", "SRC %s: %v", s, err)
		}
		sources = append(sources, filepath.Clean(abs))
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
	if o.dryRun {
		return a.dryRunSync(cmd, sources, ex)
	}
	if o.encrypt.set && o.encrypt.value && a.g.key == "" && a.g.keyFile == "" && os.Getenv(keyEnv) == "" {
		return usagef("give the key with --encryption-key-file FILE (make one with: grsync keygen my.key)",
			"--encrypt true but no key was given")
	}

	s, err := a.openSession(false)
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
	case !encrypt:
		a.log.Warn("encryption is off: the storage provider can read file names and contents; use --encrypt true with --encryption-key-file")
	}
	if encrypt && s.target.KeyFingerprint == "" {
		if err := s.cat.SetKey(s.target.ID, s.key.Fingerprint(), true); err != nil {
			return err
		}
	}

	cfg := a.engineConfig(s)
	cfg.Encrypt, cfg.Compress, cfg.Desc = encrypt, o.compress.value, o.desc
	prog := a.progress("backing up")
	cfg.Observer = prog
	start := time.Now()
	res, err := engine.Sync(cmd.Context(), cfg, engine.SyncOptions{Sources: sources, Exclude: ex, Stop: a.stop})
	prog.Finish()
	if err != nil {
		return err
	}
	a.printSyncSummary(s.target.Location, res, time.Since(start))
	if len(res.Failures) > 0 || res.Interrupted {
		a.exitCode = exitPartial
	}
	return nil
}

// dryRunSync counts what a sync would upload without writing anything: the
// catalogue is only read, and only if it exists.
func (a *app) dryRunSync(cmd *cobra.Command, sources []string, ex *engine.Excluder) error {
	loc, err := a.g.targetLocation()
	if err != nil {
		return err
	}
	cfg := &engine.Config{Log: a.log}
	if fileExists(a.g.db) {
		cat, err := a.openCatalog(true)
		if err != nil {
			return err
		}
		defer cat.Close()
		if loc == "" {
			if loc, err = a.resolveTarget(cat); err != nil {
				return err
			}
		}
		t, ok, err := cat.Target(loc)
		if err != nil {
			return err
		}
		if ok {
			cfg.Catalog, cfg.Target = cat, t
		}
	}
	if loc == "" {
		return usagef("give --local-store DIR, --vault NAME --region R, or --bucket NAME", "no target")
	}
	res, err := engine.Sync(cmd.Context(), cfg, engine.SyncOptions{Sources: sources, Exclude: ex, DryRun: true, Stop: a.stop})
	if err != nil {
		return err
	}
	a.printf("dry run for %s: nothing was uploaded or recorded\n", loc)
	a.printf("  would upload %d files (%s) (files whose content the target already holds are deduplicated then)\n", res.Pending, ui.Bytes(res.PendingBytes))
	a.printf("  unchanged    %d files\n", res.Unchanged)
	if res.Skipped > 0 {
		a.printf("  skipped      %d (symlinks, FIFOs, sockets, devices)\n", res.Skipped)
	}
	a.printFailures(res.Failures)
	if len(res.Failures) > 0 {
		a.exitCode = exitPartial
	}
	return nil
}

func (a *app) printSyncSummary(target string, r engine.SyncResult, took time.Duration) {
	state := "finished"
	if r.Interrupted {
		state = "interrupted (run it again to finish)"
	}
	a.printf("sync to %s %s in %s\n", target, state, took.Round(time.Millisecond))
	a.printf("  uploaded      %d files (%s new content, %s stored in %d objects)\n", r.Uploaded, ui.Bytes(r.UploadedBytes), ui.Bytes(r.StoredBytes), r.Objects)
	if r.ChangedStored > 0 {
		a.printf("  changing      %d files changed while read; stored as read (--changing-files=store)\n", r.ChangedStored)
	}
	a.printf("  deduplicated  %d files (content already in the target)\n", r.Deduplicated)
	a.printf("  unchanged     %d files\n", r.Unchanged)
	if r.MetaChanged > 0 {
		a.printf("  mode changed  %d files (mode or owner only: recorded, nothing uploaded)\n", r.MetaChanged)
	}
	if r.Deleted > 0 {
		a.printf("  deleted       %d files (gone from the source; marked in the catalogue, archives kept)\n", r.Deleted)
	}
	if r.Skipped > 0 {
		a.printf("  skipped       %d (symlinks, FIFOs, sockets, devices)\n", r.Skipped)
	}
	a.printf("  failed        %d files\n", len(r.Failures))
	a.printFailures(r.Failures)
}

func (a *app) printFailures(fs []engine.Failure) {
	for _, f := range fs {
		a.printf("    %s\n", f)
	}
}

// progress returns the progress display suited to stderr: a bar on a
// terminal, log lines otherwise, nothing with --quiet.
func (a *app) progress(verb string) *ui.Progress {
	mode := ui.ModeLog
	if a.g.quiet {
		mode = ui.ModeQuiet
	} else if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		mode = ui.ModeBar
	}
	return ui.New(a.stderr, mode, a.log, verb)
}
