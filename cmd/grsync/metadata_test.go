package main

// Metadata that must come back (issue 8): folders, empty ones too, with
// their modes and times; symlinks as symlinks, never followed; a chmod
// alone; hard links; owners and groups; and files that change while they
// are read, stored as read with --changing-files=store.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// setTimes sets p's mtime (and atime) without following a symlink.
func setTimes(t *testing.T, p string, mtime time.Time) {
	t.Helper()
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

// lsRow is one row of ls --json.
type lsRow struct {
	Path             string `json:"path"`
	Kind             string `json:"kind"`
	Link             string `json:"link"`
	Size             int64  `json:"size"`
	Versions         int    `json:"versions"`
	ChangedWhileRead bool   `json:"changed_while_read"`
}

// lsJSON lists paths with ls --json.
func lsJSON(t *testing.T, h *hostile, paths ...string) map[string]lsRow {
	t.Helper()
	r := h.run(t, 0, append([]string{"--json", "ls"}, paths...)...)
	out := map[string]lsRow{}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, `{"message_type":"ls_file"`) {
			var row lsRow
			mustDo(t, json.Unmarshal([]byte(line), &row))
			out[row.Path] = row
		}
	}
	return out
}

// lstatT is os.Lstat with its stat result.
func lstatT(t *testing.T, p string) (os.FileInfo, *syscall.Stat_t) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi, fi.Sys().(*syscall.Stat_t)
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Folders come back: empty ones, and every folder's mode and mtime, set
// after the files inside it are written (a read-only folder with files in
// it, mtimes that creating those files would have moved). Unchanged
// folders cost nothing; a dry run counts what it would record; a folder
// gone from the source is marked deleted.
func TestFoldersEmptyOnesModesAndTimesRestored(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	old := time.Date(2021, 3, 4, 5, 6, 7, 891011121, time.UTC)
	writeFile(t, filepath.Join(src, "read-only", "inside.txt"), []byte("in a read-only folder"), old)
	writeFile(t, filepath.Join(src, "deep", "er", "file.txt"), []byte("deep"), old)
	for _, d := range []string{"empty", "deep/empty-too", "private-empty"} {
		mustDo(t, os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	modes := map[string]os.FileMode{"read-only": 0o555, "private-empty": 0o700, "deep/er": 0o750, "empty": 0o775 | os.ModeSetgid}
	for d, m := range modes {
		mustDo(t, os.Chmod(filepath.Join(src, d), m))
	}
	folders := []string{".", "read-only", "deep", "deep/er", "deep/empty-too", "empty", "private-empty"}
	for i, d := range folders {
		setTimes(t, filepath.Join(src, d), old.Add(time.Duration(i)*time.Hour))
	}

	r := h.run(t, 0, append([]string{"--dry-run"}, h.syncArgs(src)...)...)
	wantSummary(t, r, "would upload 2 files", "would record 7 folders and 0 symlinks")
	r = h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      2 files", "folders       7 folders recorded")
	r = h.run(t, 0, h.syncArgs(src)...)
	if strings.Contains(r.stdout, "folders ") {
		t.Errorf("unchanged folders must cost nothing:\n%s", r)
	}
	r = h.run(t, 0, "ls", "--folders", filepath.Join(src, "empty"))
	wantSummary(t, r, strconv.Quote(filepath.Join(src, "empty"))+" (folder)", "0 files, 1 folder in ")

	checkFolders := func(out string) {
		t.Helper()
		for _, d := range folders {
			want, wst := lstatT(t, filepath.Join(src, d))
			got, gst := lstatT(t, filepath.Join(under(out, src), d))
			if !got.IsDir() || got.Mode() != want.Mode() {
				t.Errorf("folder %s restored as %v, want %v", d, got.Mode(), want.Mode())
			}
			if gst.Mtim != wst.Mtim {
				t.Errorf("folder %s: mtime %v, want %v", d, got.ModTime(), want.ModTime())
			}
		}
		if b, err := os.ReadFile(filepath.Join(under(out, src), "read-only", "inside.txt")); err != nil || string(b) != "in a read-only folder" {
			t.Errorf("the file in the read-only folder: %q %v", b, err)
		}
		noTemporaryFiles(t, out)
	}
	out := filepath.Join(h.dir, "out")
	r = h.run(t, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored 2 files", "7 folders")
	checkFolders(out)

	// A lost catalogue: the store's version records give the folders back.
	fresh := filepath.Join(h.dir, "rebuilt.db")
	r = h.run(t, 0, "inventory", "--rebuild", "--db", fresh, "--local-store", h.store, "--encryption-key-file", h.key)
	wantSummary(t, r, "2 file versions added", "7 versions of folders and symlinks")
	outRebuilt := filepath.Join(h.dir, "out-rebuilt")
	h.run(t, 0, append(h.restoreArgs(outRebuilt), "--db", fresh)...)
	checkFolders(outRebuilt)

	// A folder gone from the source is marked deleted.
	mustDo(t, os.Remove(filepath.Join(src, "private-empty")))
	r = h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "deleted       0 files, 1 folder", "folders       1 folder recorded") // src's mtime moved
	out2 := filepath.Join(h.dir, "out2")
	h.run(t, 0, h.restoreArgs(out2)...)
	if _, err := os.Lstat(filepath.Join(under(out2, src), "private-empty")); err == nil {
		t.Error("a deleted folder must not be restored")
	}
}

// Symlinks inside a source are backed up as symlinks (their target text,
// never followed) and restored as symlinks, relative, absolute, dangling
// or to a folder; what they point to outside the source is never read.
// Restore never replaces an existing name without --overwrite, and never
// writes through a symlink.
func TestSymlinksBackedUpAndRestoredAsSymlinks(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	outside := filepath.Join(h.dir, "outside")
	writeFile(t, filepath.Join(outside, "secret-behind-a-link.txt"), []byte("never read"), time.Time{})
	writeFile(t, filepath.Join(src, "real.txt"), []byte("real"), time.Unix(1600000000, 0))
	mustDo(t, os.Mkdir(filepath.Join(src, "sub"), 0o755))
	links := map[string]string{
		"relative":           "real.txt",
		"sub/up":             "../real.txt",
		"absolute":           filepath.Join(outside, "secret-behind-a-link.txt"),
		"dangling":           "no/such/file",
		"to-a-folder":        outside,
		"odd \"name\"\nhere": "target with\nnewline and \x01",
		"long":               strings.Repeat("a-long-target/", 290), // 4060 bytes
	}
	for i, name := range []string{"relative", "sub/up", "absolute", "dangling", "to-a-folder", "odd \"name\"\nhere", "long"} {
		p := filepath.Join(src, name)
		mustDo(t, os.Symlink(links[name], p))
		setTimes(t, p, time.Unix(1500000000+int64(i), 123456789))
	}
	setTimes(t, filepath.Join(src, "sub"), time.Unix(1400000000, 0))

	r := h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      1 file", "symlinks      7 symlinks recorded", "failed        0 files")
	if strings.Contains(r.stdout, "skipped") {
		t.Errorf("symlinks are no longer skipped:\n%s", r)
	}
	ls := h.run(t, 0, "ls")
	wantSummary(t, ls, strconv.Quote(filepath.Join(src, "relative"))+` -> "real.txt"`,
		strconv.Quote(filepath.Join(src, "odd \"name\"\nhere"))+" -> "+strconv.Quote(links["odd \"name\"\nhere"]),
		"1 file, 7 symlinks in ")
	if strings.Contains(ls.stdout, strconv.Quote(filepath.Join(src, "to-a-folder", "secret-behind-a-link.txt"))) {
		t.Errorf("a file behind a symlink must never be backed up:\n%s", ls.stdout)
	}
	rows := lsJSON(t, h, src)
	if row := rows[filepath.Join(src, "to-a-folder")]; row.Kind != "symlink" || row.Link != outside || row.Size != int64(len(outside)) {
		t.Errorf("ls --json of a symlink: %+v", row)
	}
	// Unchanged symlinks cost nothing; a changed one is a new version.
	r = h.run(t, 0, h.syncArgs(src)...)
	if strings.Contains(r.stdout, "symlinks ") {
		t.Errorf("unchanged symlinks must record nothing:\n%s", r)
	}
	mustDo(t, os.Remove(filepath.Join(src, "dangling")))
	mustDo(t, os.Symlink("now/elsewhere", filepath.Join(src, "dangling")))
	setTimes(t, filepath.Join(src, "dangling"), time.Unix(1500000003, 123456789)) // same time, new target
	links["dangling"] = "now/elsewhere"
	r = h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "symlinks      1 symlink recorded")

	out := filepath.Join(h.dir, "out")
	// Something is already at one link's place (a file), and at another's a
	// symlink to a folder outside: neither is replaced nor written through.
	elsewhere := filepath.Join(h.dir, "elsewhere")
	mustDo(t, os.Mkdir(elsewhere, 0o755))
	writeFile(t, filepath.Join(under(out, src), "relative"), []byte("mine"), time.Time{})
	mustDo(t, os.Symlink(elsewhere, filepath.Join(under(out, src), "absolute")))
	r = h.run(t, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored 1 file", "5 symlinks", "2 existing files kept")
	checkIn := func(out string, names ...string) {
		t.Helper()
		for _, name := range names {
			p := filepath.Join(under(out, src), name)
			fi, st := lstatT(t, p)
			if fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%q restored as %v, not a symlink", name, fi.Mode())
				continue
			}
			if got, _ := os.Readlink(p); got != links[name] {
				t.Errorf("%q -> %q, want %q", name, got, links[name])
			}
			_, wst := lstatT(t, filepath.Join(src, name))
			if st.Mtim != wst.Mtim {
				t.Errorf("%q: the symlink's own mtime %v, want %v", name, st.Mtim, wst.Mtim)
			}
		}
	}
	checkIn(out, "sub/up", "dangling", "to-a-folder", "odd \"name\"\nhere", "long")
	if b, _ := os.ReadFile(filepath.Join(under(out, src), "relative")); string(b) != "mine" {
		t.Errorf("an existing file was replaced by a symlink without --overwrite: %q", b)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("restore wrote through an existing symlink: %v", ents)
	}
	if fi, _ := lstatT(t, filepath.Join(under(out, src), "sub")); fi.ModTime().Unix() != 1400000000 {
		t.Errorf("the folder holding a restored symlink keeps its recorded mtime: %v", fi.ModTime())
	}
	// --overwrite replaces them with the recorded symlinks.
	r = h.run(t, 0, append(h.restoreArgs(out), "--overwrite")...)
	wantSummary(t, r, "7 symlinks")
	checkIn(out, "relative", "absolute", "sub/up", "dangling", "to-a-folder", "odd \"name\"\nhere", "long")
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("restore wrote through an existing symlink: %v", ents)
	}
	noTemporaryFiles(t, out)
	// A lost catalogue: the store's version records give the symlinks back.
	fresh := filepath.Join(h.dir, "rebuilt.db")
	h.run(t, 0, "inventory", "--rebuild", "--db", fresh, "--local-store", h.store, "--encryption-key-file", h.key)
	outRebuilt := filepath.Join(h.dir, "out-rebuilt")
	h.run(t, 0, append(h.restoreArgs(outRebuilt), "--db", fresh)...)
	checkIn(outRebuilt, "relative", "absolute", "sub/up", "dangling", "to-a-folder", "odd \"name\"\nhere", "long")
	if b, _ := os.ReadFile(filepath.Join(outside, "secret-behind-a-link.txt")); string(b) != "never read" {
		t.Errorf("the link's target was changed: %q", b)
	}
}

// A chmod alone (same content, same mtime) is a new version that uploads
// nothing; restore gives the new mode, and --at a time before it the old.
func TestChmodAloneRestoresTheNewMode(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	p := filepath.Join(src, "script.sh")
	writeFile(t, p, []byte("#!/bin/sh\necho hi\n"), time.Unix(1600000000, 0))
	mustDo(t, os.Chmod(p, 0o644))
	at := func(s string) []string { return []string{"GRSYNC_FAKE_NOW=" + s} }
	runAs(t, h.dir, nil, at("2026-01-01T10:00:00Z"), 0, h.syncArgs(src)...)
	mustDo(t, os.Chmod(p, 0o750))
	r := runAs(t, h.dir, nil, at("2026-01-02T10:00:00Z"), 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      0 files", "mode changed  1 file")
	if row := lsJSON(t, h, p)[p]; row.Versions != 2 {
		t.Errorf("the chmod should be a second version: %+v", row)
	}
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out)...)
	if fi, _ := lstatT(t, under(out, p)); fi.Mode() != 0o750 {
		t.Errorf("restored with mode %v, want the new 0750", fi.Mode())
	}
	outOld := filepath.Join(h.dir, "out-old")
	h.run(t, 0, append(h.restoreArgs(outOld), "--at", "2026-01-01T12:00:00Z")...)
	if fi, _ := lstatT(t, under(outOld, p)); fi.Mode() != 0o644 {
		t.Errorf("restored --at before the chmod with mode %v, want 0644", fi.Mode())
	}
}

// Hard links inside a source are restored as hard links (one inode), also
// across folders and for empty files; a copy with the same content stays a
// copy.
func TestHardLinksRestoredAsHardLinks(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "a"), randomBytes(t, 3<<20), time.Unix(1600000000, 0)) // chunked
	writeFile(t, filepath.Join(src, "small"), []byte("small and linked"), time.Unix(1600000000, 0))
	writeFile(t, filepath.Join(src, "empty"), nil, time.Unix(1600000000, 0))
	mustDo(t, os.MkdirAll(filepath.Join(src, "other", "folder"), 0o755))
	for _, l := range [][2]string{{"a", "other/folder/a-link"}, {"a", "a-link"}, {"small", "other/small-link"}, {"empty", "other/empty-link"}} {
		mustDo(t, os.Link(filepath.Join(src, l[0]), filepath.Join(src, l[1])))
	}
	b, err := os.ReadFile(filepath.Join(src, "small"))
	mustDo(t, err)
	writeFile(t, filepath.Join(src, "small-copy"), b, time.Unix(1600000000, 0))

	h.run(t, 0, h.syncArgs(src)...)
	out := filepath.Join(h.dir, "out")
	r := h.run(t, 0, h.restoreArgs(out)...)
	wantSummary(t, r, "restored 8 files", "4 as hard links")
	sameInode := func(x, y string, want bool) {
		t.Helper()
		_, a := lstatT(t, filepath.Join(under(out, src), x))
		_, b := lstatT(t, filepath.Join(under(out, src), y))
		if (a.Ino == b.Ino) != want {
			t.Errorf("%s and %s: same inode %v, want %v (links %d, %d)", x, y, a.Ino == b.Ino, want, a.Nlink, b.Nlink)
		}
	}
	sameInode("a", "other/folder/a-link", true)
	sameInode("a", "a-link", true)
	sameInode("small", "other/small-link", true)
	sameInode("empty", "other/empty-link", true)
	sameInode("small", "small-copy", false)
	if _, st := lstatT(t, filepath.Join(under(out, src), "a")); st.Nlink != 3 {
		t.Errorf("a should have 3 links, has %d", st.Nlink)
	}
	sameTree(t, src, under(out, src), checkMeta)

	// --overwrite restores them as hard links again, over what is there.
	r = h.run(t, 0, append(h.restoreArgs(out), "--overwrite")...)
	wantSummary(t, r, "restored 8 files", "4 as hard links")
	sameInode("a", "other/folder/a-link", true)
	sameInode("small", "small-copy", false)
	noTemporaryFiles(t, out)
}

// Owners and groups are recorded; restore as root gives them back (files,
// folders, symlinks), --no-owner leaves them to root; a change of owner
// alone is a new version; restore as another user leaves them silently.
func TestOwnersRecordedAndRestoredAsRoot(t *testing.T) {
	t.Parallel()
	requireRootFor(t, "giving files to other users")
	h := newHostile(t)
	src := filepath.Join(h.dir, "src")
	writeFile(t, filepath.Join(src, "alice.txt"), []byte("alice"), time.Unix(1600000000, 0))
	writeFile(t, filepath.Join(src, "bobs", "bob.txt"), []byte("bob"), time.Unix(1600000000, 0))
	mustDo(t, os.Chmod(filepath.Join(src, "alice.txt"), 0o755|os.ModeSetuid)) // setuid survives chown on restore
	mustDo(t, os.Symlink("bob.txt", filepath.Join(src, "bobs", "link")))
	owners := map[string][2]uint32{"alice.txt": {1001, 1002}, "bobs": {2001, 2002}, "bobs/bob.txt": {2001, 100}, "bobs/link": {3001, 3002}}
	for n, o := range owners {
		mustDo(t, os.Lchown(filepath.Join(src, n), int(o[0]), int(o[1])))
	}
	mustDo(t, os.Chmod(filepath.Join(src, "alice.txt"), 0o755|os.ModeSetuid))
	h.run(t, 0, h.syncArgs(src)...)

	check := func(out string, want func(n string) [2]uint32) {
		t.Helper()
		for n := range owners {
			_, st := lstatT(t, filepath.Join(under(out, src), n))
			if w := want(n); st.Uid != w[0] || st.Gid != w[1] {
				t.Errorf("%s restored owned by %d:%d, want %d:%d", n, st.Uid, st.Gid, w[0], w[1])
			}
		}
	}
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out)...)
	check(out, func(n string) [2]uint32 { return owners[n] })
	if fi, _ := lstatT(t, filepath.Join(under(out, src), "alice.txt")); fi.Mode() != 0o755|os.ModeSetuid {
		t.Errorf("alice.txt restored with mode %v, want -rwsr-xr-x", fi.Mode())
	}
	noOwner := filepath.Join(h.dir, "no-owner")
	h.run(t, 0, append(h.restoreArgs(noOwner), "--no-owner")...)
	check(noOwner, func(string) [2]uint32 { return [2]uint32{0, 0} })

	// A change of owner alone is a new version, nothing uploaded.
	mustDo(t, os.Lchown(filepath.Join(src, "bobs", "bob.txt"), 2001, 2002))
	owners["bobs/bob.txt"] = [2]uint32{2001, 2002}
	r := h.run(t, 0, h.syncArgs(src)...)
	wantSummary(t, r, "uploaded      0 files", "mode changed  1 file")
	out2 := filepath.Join(h.dir, "out2")
	h.run(t, 0, h.restoreArgs(out2)...)
	check(out2, func(n string) [2]uint32 { return owners[n] })

	// A lost catalogue: the store's version records give the owners back.
	fresh := filepath.Join(h.dir, "rebuilt.db")
	h.run(t, 0, "inventory", "--rebuild", "--db", fresh, "--local-store", h.store, "--encryption-key-file", h.key)
	outRebuilt := filepath.Join(h.dir, "out-rebuilt")
	h.run(t, 0, append(h.restoreArgs(outRebuilt), "--db", fresh)...)
	check(outRebuilt, func(n string) [2]uint32 { return owners[n] })
	if fi, _ := lstatT(t, filepath.Join(under(outRebuilt, src), "alice.txt")); fi.Mode() != 0o755|os.ModeSetuid {
		t.Errorf("alice.txt restored from the rebuilt catalogue with mode %v, want -rwsr-xr-x", fi.Mode())
	}

	// Another user cannot give files away: restore leaves the owners, and
	// says nothing about it.
	for _, d := range []string{filepath.Dir(grsyncBin), filepath.Dir(h.dir)} {
		mustDo(t, os.Chmod(d, 0o755))
	}
	mustDo(t, filepath.Walk(h.dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	}))
	asNobody := filepath.Join(h.dir, "as-nobody")
	r = runAs(t, h.dir, nobody(), nil, 0, h.restoreArgs(asNobody)...)
	wantSummary(t, r, "restored 2 files", "2 folders, 1 symlink")
	if strings.Contains(r.stdout+r.stderr, "owner") || strings.Contains(r.stdout+r.stderr, "chown") {
		t.Errorf("restore as another user skips owners silently:\n%s", r)
	}
	check(asNobody, func(string) [2]uint32 { return [2]uint32{65534, 65534} })
}

// A file that changes while it is read, on both tries: with the default
// (--changing-files=fail) it is reported and nothing torn is recorded; with
// store, the bytes as read are stored, the summary and ls say so, and
// restore gives them back. The trigger is deterministic: a sysfs file says
// it holds 4096 bytes and reads as a few, every time.
func TestChangingFilesStoredAsRead(t *testing.T) {
	t.Parallel()
	const sysfs = "/sys/devices/system/cpu/online"
	fi, err := os.Stat(sysfs)
	if err != nil {
		skipOrFail(t, "no "+sysfs+" (sysfs is not mounted): "+err.Error())
	}
	content, err := os.ReadFile(sysfs)
	mustDo(t, err)
	if fi.Size() == int64(len(content)) {
		t.Fatalf("%s reads as its size says (%d bytes): pick another file whose size lies", sysfs, fi.Size())
	}
	h := newHostile(t)
	r := h.run(t, 1, h.syncArgs(sysfs)...)
	wantSummary(t, r, "uploaded      0 files", "failed        1 file",
		"changed while it was being read, twice; not recorded (use --changing-files=store")
	if ls := h.run(t, 0, "ls"); strings.Contains(ls.stdout, sysfs) {
		t.Errorf("a torn file must not be recorded by default:\n%s", ls.stdout)
	}

	r = h.run(t, 0, append([]string{"--changing-files", "store"}, h.syncArgs(sysfs)...)...)
	wantSummary(t, r, "uploaded      1 file", "changing      1 file changed while read; stored as read (--changing-files=store)",
		"failed        0 files")
	ls := h.run(t, 0, "ls", sysfs)
	wantSummary(t, ls, strconv.Quote(sysfs)+" (changed while read)")
	if row := lsJSON(t, h, sysfs)[sysfs]; !row.ChangedWhileRead || row.Size != int64(len(content)) {
		t.Errorf("ls --json should flag the version and give the size read (%d): %+v", len(content), row)
	}
	out := filepath.Join(h.dir, "out")
	h.run(t, 0, h.restoreArgs(out)...)
	if b, err := os.ReadFile(under(out, sysfs)); err != nil || !bytes.Equal(b, content) {
		t.Errorf("restore should give the bytes as read, %q: got %q, %v", content, b, err)
	}
	// The next run reads it again (its recorded size is what was read).
	r = h.run(t, 0, append([]string{"--changing-files", "store"}, h.syncArgs(sysfs)...)...)
	wantSummary(t, r, "changing      1 file changed while read")
}
