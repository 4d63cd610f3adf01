package local

import "os"

// writeFileSync writes data to path opened with flag|O_WRONLY and fsyncs it.
func writeFileSync(path string, data []byte, flag int) error {
	f, err := os.OpenFile(path, flag|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
