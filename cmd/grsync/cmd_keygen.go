package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/grsync/grsync/internal/keys"
)

func (a *app) keygenCommand() *cobra.Command {
	var force, verify bool
	cmd := &cobra.Command{
		Use:   "keygen [FILE]",
		Short: "Make a new encryption key (or check one with --verify)",
		Long: `Make a new key: 32 random bytes, url-safe base64 (the Python glacier-rsync
format). Without FILE the key goes to standard output (grsync keygen > my.key);
with FILE it is created with mode 0600 and an existing file is never replaced
unless --force. With --verify, check the key in FILE (or given by the key flags)
and print its fingerprint.

Keep the key safe and separate from the backup: without it nothing can be restored.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if verify {
				var k *keys.Key
				var err error
				if len(args) == 1 {
					var kk keys.Key
					kk, err = keys.LoadFile(args[0])
					k = &kk
				} else {
					k, err = a.loadKey()
				}
				if err != nil {
					return asUsage(err, keyFileHint(err))
				}
				if k == nil {
					return usagef("name the key FILE, or give --encryption-key-file", "no key to verify")
				}
				a.printf("key is valid; fingerprint %s\n", k.Fingerprint())
				return nil
			}
			k, err := keys.Generate(rand.Reader)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				if err := privateStdout(a.stdout); err != nil {
					return err
				}
				a.printf("%s\n", k.String())
				return nil
			}
			return writeKeyFile(args[0], k, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing FILE")
	cmd.Flags().BoolVar(&verify, "verify", false, "check a key and print its fingerprint instead of making one")
	return cmd
}

// privateStdout makes standard output mode 0600 when it is a regular file
// (grsync keygen > my.key), so that the key is never readable by others and
// grsync accepts the file as it is. A file it cannot make private gets no key.
func privateStdout(w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if err := f.Chmod(0o600); err != nil {
		return usagef("write the key with: grsync keygen FILE (created with mode 0600)",
			"standard output is a file others may read, and it cannot be made private: %v; no key was written", err)
	}
	return nil
}

// writeKeyFile creates FILE with mode 0600 holding the key, refusing to
// replace an existing file unless force.
func writeKeyFile(name string, k keys.Key, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(name, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return usagef("choose another name, or add --force to replace it (the old key is lost: backups made with it cannot be restored)",
			"%s exists; not overwritten", name)
	}
	if err != nil {
		return asUsage(err, "check the path")
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := fmt.Fprintln(f, k.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
