package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The folder cache keeps at most max unused folders open, never closes
// one in use, and gives the same descriptor for the same folder.
func TestDirCacheBoundsOpenFolders(t *testing.T) {
	out := t.TempDir()
	c := newDirCache(destRoot{out: out}, 3)
	defer c.close()
	held, err := c.get(filepath.Join(out, "held"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		dir := filepath.Join(out, "a", fmt.Sprint(i))
		d, err := c.get(dir)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.get(dir)
		if err != nil {
			t.Fatal(err)
		}
		if again != d {
			t.Errorf("%s opened twice while in use", dir)
		}
		c.put(again)
		c.put(d)
		if n := len(c.dirs); n > 3 {
			t.Errorf("%d folders open, at most 3 allowed", n)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("the folder was not created: %v", err)
		}
	}
	if held.fd < 0 {
		t.Error("a folder in use was closed")
	}
	if _, ok := c.open[held]; !ok {
		t.Error("a folder in use left the cache")
	}
	c.put(held)
	if err := c.sync(); err != nil {
		t.Errorf("sync: %v", err)
	}
}
