package catalog

import (
	"os"
	"path/filepath"
	"testing"
)

// A target remembers the region and endpoint it was reached with, across
// reopening, read-only too; an upgraded catalogue's targets start with
// none. Catalogues are created private.
func TestTargetRemembersConnection(t *testing.T) {
	c, path := openLegacy(t)
	tg, ok, err := c.Target("glacier:eu-west-1:my-vault")
	if err != nil || !ok {
		t.Fatalf("legacy target: %v %v", ok, err)
	}
	if tg.Region != "" || tg.Endpoint != "" {
		t.Errorf("an upgraded target remembers nothing yet: %+v", tg)
	}
	if err := c.SetConnection(tg.ID, "eu-west-1", "http://127.0.0.1:9000"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	ro, err := Open(path, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got, ok, err := ro.Target("glacier:eu-west-1:my-vault")
	if err != nil || !ok || got.Region != "eu-west-1" || got.Endpoint != "http://127.0.0.1:9000" {
		t.Fatalf("after reopening: %+v %v %v", got, ok, err)
	}
	if err := ro.SetConnection(got.ID, "x", ""); err != nil {
		t.Errorf("a read-only catalogue leaves the target alone, without failing: %v", err)
	}

	fresh := filepath.Join(t.TempDir(), "new.db")
	nc, err := Open(fresh, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, f := range []string{fresh, fresh + "-wal", fresh + "-shm", fresh + ".lock"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// A catalogue numbered past 5 by a build that had no migration 5 yet (no
// targets.region column) gets the columns when opened, read-only too.
func TestConnectionColumnsAddedToLaterCatalogues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.db")
	c, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnsureTarget("s3:bucket"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	db := rawDB(t, path, false)
	for _, q := range []string{"ALTER TABLE targets DROP COLUMN region", "ALTER TABLE targets DROP COLUMN endpoint"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for _, ro := range []bool{true, false} {
		c, err := Open(path, OpenOptions{ReadOnly: ro})
		if err != nil {
			t.Fatalf("read-only %v: %v", ro, err)
		}
		tg, ok, err := c.Target("s3:bucket")
		if err != nil || !ok {
			t.Fatalf("read-only %v: %v %v", ro, ok, err)
		}
		if !ro {
			if err := c.SetConnection(tg.ID, "eu-west-1", ""); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
}
