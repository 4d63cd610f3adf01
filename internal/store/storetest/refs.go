package storetest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

// refs reads the store's refs.
func (h *harness) refs(t *testing.T) map[string]string {
	t.Helper()
	refs, err := h.s.Refs(t.Context())
	if err != nil {
		t.Fatalf("Refs: %v", err)
	}
	return refs
}

// wantRefs fails unless the store holds exactly want.
func (h *harness) wantRefs(t *testing.T, what string, want map[string]string) {
	t.Helper()
	if got := h.refs(t); !maps.Equal(got, want) {
		t.Errorf("%s: Refs = %v, want %v", what, got, want)
	}
}

func (h *harness) setRef(t *testing.T, name, value string) {
	t.Helper()
	if err := h.s.SetRef(t.Context(), name, value); err != nil {
		t.Fatalf("SetRef(%q, %q): %v", name, value, err)
	}
}

// testRefs sets, replaces, lists and deletes refs, and checks that they are
// not archives or uploads.
func testRefs(t *testing.T, h *harness) {
	h.wantRefs(t, "new store", map[string]string{})
	// A value with every character a ref may hold, at the longest.
	long := strings.Repeat("Az09 _./=+-@", store.MaxRefValue/12+1)[:store.MaxRefValue]
	name := strings.Repeat("a-9", store.MaxRefName/3+1)[:store.MaxRefName]
	h.setRef(t, "marker", "grsync-store 1 id=00 key=none")
	h.setRef(t, name, long)
	h.setRef(t, "empty", "")
	want := map[string]string{"marker": "grsync-store 1 id=00 key=none", name: long, "empty": ""}
	h.wantRefs(t, "after three SetRefs", want)

	h.setRef(t, "marker", "replaced")
	want["marker"] = "replaced"
	h.wantRefs(t, "after replacing one", want)

	if err := h.s.DeleteRef(t.Context(), "empty"); err != nil {
		t.Fatalf("DeleteRef: %v", err)
	}
	delete(want, "empty")
	h.wantRefs(t, "after deleting one", want)
	h.wantErr(t, "DeleteRef of a deleted ref", h.s.DeleteRef(t.Context(), "empty"), store.ErrNotFound)
	h.wantErr(t, "DeleteRef of a ref never set", h.s.DeleteRef(t.Context(), "never"), store.ErrNotFound)

	// Refs are not archives and not uploads. (A vault has no inventory
	// before it held an archive, so one archive is put first.)
	a := h.put(t, []byte("an archive beside the refs"), "beside refs")
	inv := h.inventory(t)
	if _, ok := inv[a.ID]; !ok || len(inv) != 1 {
		t.Errorf("inventory lists %v, want only the archive %s", inv, a.ID)
	}
	if ups := h.uploads(t); len(ups) != 0 {
		t.Errorf("ListUploads lists %v beside refs, want none", ups)
	}
	h.wantRefs(t, "after a Put", want)
}

// testRefsInvalid checks that invalid names and values are refused as
// permanent errors naming the store, and change nothing.
func testRefsInvalid(t *testing.T, h *harness) {
	h.setRef(t, "kept", "value")
	ctx := t.Context()
	for _, name := range []string{"", "Marker", "a_b", "a.b", "a/b", "..", "a b", "é", strings.Repeat("a", store.MaxRefName+1)} {
		err := h.s.SetRef(ctx, name, "v")
		h.wantPermanent(t, fmt.Sprintf("SetRef(%q)", name), err)
		h.wantPermanent(t, fmt.Sprintf("DeleteRef(%q)", name), h.s.DeleteRef(ctx, name))
	}
	for _, value := range []string{strings.Repeat("a", store.MaxRefValue+1), "a:b", "a!", "tab\there", "new\nline", "é", "a\x00b", "#"} {
		h.wantPermanent(t, fmt.Sprintf("SetRef(value %q)", value), h.s.SetRef(ctx, "bad", value))
	}
	h.wantRefs(t, "after refused SetRefs", map[string]string{"kept": "value"})
}

// testRefsLimit fills the store with MaxRefs refs: one more is refused,
// replacing one still works.
func testRefsLimit(t *testing.T, h *harness) {
	want := map[string]string{}
	for i := range store.MaxRefs {
		name := fmt.Sprintf("ref-%02d", i)
		h.setRef(t, name, fmt.Sprint(i))
		want[name] = fmt.Sprint(i)
	}
	h.wantPermanent(t, "SetRef beyond the limit", h.s.SetRef(t.Context(), "one-too-many", "x"))
	h.setRef(t, "ref-07", "replaced at the limit")
	want["ref-07"] = "replaced at the limit"
	h.wantRefs(t, "at the limit", want)
}

// wantPermanent checks that err is a permanent error naming the store.
func (h *harness) wantPermanent(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want a permanent one", what)
	case !store.IsPermanent(err) || errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: error %q is not permanent (or says not found)", what, err)
	case !strings.Contains(err.Error(), h.s.Location()):
		t.Errorf("%s: error %q does not name the store %s", what, err, h.s.Location())
	}
}
