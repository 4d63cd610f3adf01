//go:build windows

package local

// syncDir is a no-op on Windows, where directories cannot be fsynced and
// NTFS journals renames itself.
func syncDir(string) error { return nil }
