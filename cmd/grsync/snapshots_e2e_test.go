package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// syncJSON runs a sync with --json and returns its summary.
func syncJSON(t *testing.T, dir string, env []string, args ...string) map[string]any {
	t.Helper()
	r := mustRunEnv(t, dir, env, 0, append([]string{"--json"}, args...)...)
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if m["message_type"] == "summary" {
			return m
		}
	}
	t.Fatalf("no summary:\n%s", r)
	return nil
}

// stringList reads a JSON array of strings.
func stringList(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// Keep the last 3 snapshots: seven syncs a month apart each take one (the
// newest is 30 days old), and from the fourth on each deletes the oldest,
// so the store holds exactly the newest three; --keep-snapshots 2 then
// leaves two. verify finds the store and the catalogue agree, and recover
// uses the newest.
func TestStoreKeepsTheLastThreeSnapshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	key := newKey(t, dir)
	target := []string{"--local-store", "st", "--encryption-key-file", key}
	inStore := func(id string) bool {
		_, err1 := os.Stat(filepath.Join(dir, "st", "archives", id))
		_, err2 := os.Stat(filepath.Join(dir, "st", "archives", id+".json"))
		return err1 == nil && err2 == nil
	}
	var taken, deleted []string
	sync := func(month int, extra ...string) {
		t.Helper()
		writeFile(t, filepath.Join(src, "month.txt"), []byte("month "+strconv.Itoa(month)), time.Unix(1700000000+int64(month), 0))
		sum := syncJSON(t, dir, atDay(float64(31*month)), append(append(append([]string{}, target...), extra...), src)...)
		snap := sum["snapshot"].(map[string]any)
		if snap["taken"] != true {
			t.Fatalf("month %d: a snapshot is due (none yet, or the newest is a month old): %v", month, snap)
		}
		taken = append(taken, snap["object"].(string))
		deleted = append(deleted, stringList(snap["deleted"])...)
		if len(snap["held"].([]any)) != 0 {
			t.Errorf("month %d: nothing holds a snapshot on a local store: %v", month, snap["held"])
		}
	}
	for month := range 7 {
		sync(month)
		keep := min(len(taken), 3)
		if !slices.Equal(deleted, taken[:len(taken)-keep]) {
			t.Fatalf("after month %d: deleted %v, want the oldest of %v past 3", month, deleted, taken)
		}
		for i, id := range taken {
			if want := i >= len(taken)-keep; inStore(id) != want {
				t.Errorf("after month %d: snapshot %d (%s) in the store: %v, want %v", month, i, id, !want, want)
			}
		}
	}
	if got := snapshotIDs(t, filepath.Join(dir, "glacier.db")); !slices.Equal(got, taken[4:]) {
		t.Errorf("the catalogue's snapshots: %v, want the newest three %v", got, taken[4:])
	}
	sync(7, "--keep-snapshots", "2")
	for i, id := range taken {
		if want := i >= 6; inStore(id) != want {
			t.Errorf("with --keep-snapshots 2: snapshot %d (%s) in the store: %v, want %v", i, id, !want, want)
		}
	}
	if r := mustRunEnv(t, dir, atDay(31*7), 0, "verify"); !strings.Contains(r.stdout, "0 missing, 0 unknown") {
		t.Errorf("the store should hold exactly the catalogue's objects:\n%s", r)
	}
	_, plans := recoverJSON(t, dir, nil, 0, append([]string{"--db", "recovered.db"}, target...)...)
	if len(plans) != 1 || plans[0]["snapshot"] != taken[7] {
		t.Errorf("recover should use the newest snapshot %s: %v", taken[7], plans)
	}
}
