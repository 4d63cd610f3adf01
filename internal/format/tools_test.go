package format

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grsync/grsync/internal/testutil/tools"
)

// TestStandardToolsDecode is the recovery recipe of docs/FORMAT.md section
// 7: stock age, zstd and GNU tar must restore the file, its bytes, its
// modification time and its permissions, for every encoding.
func TestStandardToolsDecode(t *testing.T) {
	tools.Require(t, "age", "zstd", "tar", "bash")
	k := testKey(t)
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	if err := os.WriteFile(idFile, []byte(k.AgeIdentityString()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	content := append(randomBytes(300<<10, 20), bytes.Repeat([]byte("compressible "), 10000)...)
	for _, o := range optionSets {
		for _, name := range []string{"/data/photos/2024/img 0001.jpg", "/data/bad\xff\xfename.bin"} {
			fi := FileInfo{Path: name, Size: int64(len(content)), Mode: 0o751, ModTime: time.Unix(1600000000, 987654321)}
			archive := filepath.Join(dir, "archive")
			if err := os.WriteFile(archive, encode(t, fi, content, o.options(k)), 0o600); err != nil {
				t.Fatal(err)
			}
			steps := []string{"cat " + archive}
			if o.encrypt {
				steps = append(steps, "age -d -i "+idFile)
			}
			if o.compress {
				steps = append(steps, "zstd -d")
			}
			steps = append(steps, "tar xf - --warning=no-unknown-keyword")
			out := filepath.Join(dir, "out-"+o.name)
			if err := os.Mkdir(out, 0o700); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-o", "pipefail", "-c", strings.Join(steps, " | "))
			cmd.Dir = out
			if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
				t.Fatalf("%s: %s: %v\n%s", o.name, strings.Join(steps, " | "), err, msg)
			}
			restored := filepath.Join(out, filepath.FromSlash(name[1:]))
			got, err := os.ReadFile(restored)
			if err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("%s %q: restored %d bytes differ from the original %d", o.name, name, len(got), len(content))
			}
			st, err := os.Stat(restored)
			if err != nil {
				t.Fatal(err)
			}
			if !st.ModTime().Equal(fi.ModTime) {
				t.Errorf("%s %q: mtime %v, want %v", o.name, name, st.ModTime(), fi.ModTime)
			}
			if st.Mode().Perm() != 0o751&^currentUmask() {
				t.Errorf("%s %q: mode %v, want %v", o.name, name, st.Mode().Perm(), os.FileMode(0o751&^currentUmask()))
			}
		}
	}
}

// currentUmask reads the process umask, which tar applies when not root.
func currentUmask() os.FileMode {
	if os.Geteuid() == 0 {
		return 0 // root's tar keeps the archived mode
	}
	out, err := exec.Command("sh", "-c", "umask").Output()
	if err != nil {
		return 0o022
	}
	var m uint32
	for _, c := range strings.TrimSpace(string(out)) {
		m = m*8 + uint32(c-'0')
	}
	return os.FileMode(m)
}
