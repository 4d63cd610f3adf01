package keys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// maxFileSize bounds how much of a key file is read: a key is 44 bytes, so
// anything much larger is the wrong file.
const maxFileSize = 4096

// LoadFile reads a key from a file. Like ssh, it refuses a file that group or
// others can read, write or execute, naming the chmod command that fixes it;
// for a symbolic link the target's mode counts. Trailing white space is
// ignored.
func LoadFile(path string) (Key, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Key{}, fmt.Errorf("key file %s does not exist; %s", path, GenerateHint)
	case err != nil:
		return Key{}, fmt.Errorf("key file %s cannot be opened: %w", path, err)
	}
	defer f.Close()

	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	if st.IsDir() {
		return Key{}, fmt.Errorf("key file %s is a directory, not a key file", path)
	}
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return Key{}, &ModeError{Path: path, Perm: perm}
	}

	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("key file %s cannot be read: %w", path, err)
	}
	if len(data) > maxFileSize {
		return Key{}, fmt.Errorf("key file %s is too large (more than %d bytes) for a %d-character key; is it the right file?",
			path, maxFileSize, EncodedLen)
	}
	if strings.TrimSpace(string(data)) == "" {
		return Key{}, fmt.Errorf("key file %s is empty; %s", path, GenerateHint)
	}
	k, err := Parse(string(data))
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// ModeError is LoadFile's refusal of a key file that group or others may
// read, write or execute. The key itself is fine: the fix is chmod, never a
// new key (which could not read the backups made with this one).
type ModeError struct {
	Path string
	Perm fs.FileMode
}

func (e *ModeError) Error() string {
	return fmt.Sprintf("key file %s is accessible by others (mode %04o); fix with: chmod 600 %s", e.Path, e.Perm, shellQuote(e.Path))
}

// shellQuote quotes path for a POSIX shell when it needs quoting, so that the
// suggested chmod command can be pasted as is.
func shellQuote(path string) string {
	safe := path != ""
	for _, r := range path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
