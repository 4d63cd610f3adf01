package keys

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func writeKeyFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFile(t *testing.T) {
	p := writeKeyFile(t, "my.key", vectorKey+"\n", 0o600)
	k, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != vectorKey {
		t.Errorf("LoadFile = %q, want %q", k, vectorKey)
	}
	p = writeKeyFile(t, "ro.key", vectorKey, 0o400)
	if _, err := LoadFile(p); err != nil {
		t.Errorf("0400 key file refused: %v", err)
	}
}

func TestLoadFileRefusesSharedModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits; the check is disabled there")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o666} {
		p := writeKeyFile(t, "my.key", vectorKey+"\n", mode)
		_, err := LoadFile(p)
		want := "key file " + p + " is accessible by others (mode " + octal4(mode) + "); fix with: chmod 600 " + p
		if err == nil || err.Error() != want {
			t.Errorf("mode %04o: err = %v\nwant %s", mode, err, want)
		}
	}
}

func octal4(m os.FileMode) string {
	const digits = "01234567"
	v := uint32(m.Perm())
	return string([]byte{'0', digits[v>>6&7], digits[v>>3&7], digits[v&7]})
}

func TestLoadFileQuotesPathInHint(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits; the check is disabled there")
	}
	p := writeKeyFile(t, "my key's.key", vectorKey, 0o644)
	_, err := LoadFile(p)
	want := `fix with: chmod 600 '` + strings.ReplaceAll(p, "'", `'\''`) + `'`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("err = %v, want suffix %s", err, want)
	}
}

func TestLoadFileSymlinkUsesTargetMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links and Unix modes are not reliable on Windows")
	}
	dir := t.TempDir()
	good := writeKeyFile(t, "good.key", vectorKey, 0o600)
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(link); err != nil {
		t.Errorf("symlink to a 0600 key refused: %v", err)
	}

	bad := writeKeyFile(t, "bad.key", vectorKey, 0o644)
	badLink := filepath.Join(dir, "bad-link.key")
	if err := os.Symlink(bad, badLink); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(badLink)
	if err == nil || !strings.Contains(err.Error(), "accessible by others (mode 0644)") {
		t.Errorf("symlink to a 0644 key: err = %v", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		want []string
	}{
		{"missing", filepath.Join(dir, "nope.key"), []string{"does not exist", "grsync keygen"}},
		{"empty", writeKeyFile(t, "empty.key", "", 0o600), []string{"is empty", "grsync keygen"}},
		{"blank", writeKeyFile(t, "blank.key", " \n\n", 0o600), []string{"is empty"}},
		{"directory", dir, []string{"is a directory"}},
		{"under a file", filepath.Join(writeKeyFile(t, "plain", "x", 0o600), "my.key"), []string{"cannot be opened", "not a directory"}},
		{"too large", writeKeyFile(t, "big.key", strings.Repeat("A", 5000), 0o600), []string{"too large"}},
		{"bad content", writeKeyFile(t, "bad.key", "AAECAwQF+gcI\n", 0o600), []string{"bad.key: key contains '+' at position 9", "grsync keygen"}},
	} {
		_, err := LoadFile(tc.path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
		if !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
	}
}

func TestLoadFileUnreadable(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("SKIPPED: root (or Windows) can read a mode-000 file, so unreadability cannot be tested here")
	}
	p := writeKeyFile(t, "locked.key", vectorKey, 0o000)
	_, err := LoadFile(p)
	if err == nil || !strings.Contains(err.Error(), "cannot be opened") || !strings.Contains(err.Error(), p) {
		t.Errorf("err = %v", err)
	}
}
