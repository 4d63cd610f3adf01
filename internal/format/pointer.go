package format

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Catalogue pointers (docs/FORMAT.md section 12.2): refs that name the
// newest catalogue snapshots and the version-records objects stored after
// them, so that a recovery finds them without listing the store (a
// vault's listing is an inventory job of hours). They live in numbered
// slots that are overwritten, never deleted, so credentials that may not
// delete (append-only) keep them up to date.

// PointerPrefix starts the name of every catalogue pointer ref.
const PointerPrefix = "cat-"

// MaxPointers is how many pointer slots there are: cat-00 to cat-29.
const MaxPointers = 30

// pointerMagic and pointerVersion start every pointer's value.
const (
	pointerMagic   = "grsync-cat"
	pointerVersion = "1"
)

// ErrNotPointer: a ref is not a catalogue pointer (another ref).
var ErrNotPointer = errors.New("not a catalogue pointer")

// Pointer is one catalogue pointer: a snapshot or records object in the
// store.
type Pointer struct {
	Kind    string // ObjectSnapshot or ObjectRecords
	Pack    PackID // the object's own pack id (its members are bound to it)
	Created time.Time
	Size    int64  // stored bytes
	Archive string // the store's id of the object
}

// PointerSlot is the name of pointer slot i (0 <= i < MaxPointers).
func PointerSlot(i int) string { return fmt.Sprintf("%s%02d", PointerPrefix, i) }

// Value is the pointer's ref value:
//
//	"grsync-cat 1 " kind SP pack-id SP created-unix-nanoseconds SP size SP archive-id
//
// It fails for an archive id that a ref value cannot carry.
func (p Pointer) Value() (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %s %s %d %d %s", pointerMagic, pointerVersion, p.Kind, p.Pack, p.Created.UnixNano(), p.Size, p.Archive), nil
}

func (p Pointer) check() error {
	switch p.Kind {
	case ObjectSnapshot, ObjectRecords:
	default:
		return fmt.Errorf("catalogue pointer: kind %q", p.Kind)
	}
	if p.Size < 0 || p.Created.UnixNano() <= 0 {
		return fmt.Errorf("catalogue pointer: size %d, created %v", p.Size, p.Created)
	}
	if p.Archive == "" || len(p.Archive) > 200 {
		return fmt.Errorf("catalogue pointer: archive id of %d characters", len(p.Archive))
	}
	for i := 0; i < len(p.Archive); i++ {
		c := p.Archive[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_./=+-@", c) >= 0) {
			return fmt.Errorf("catalogue pointer: archive id %q has a character a ref cannot carry", p.Archive)
		}
	}
	return nil
}

// ParsePointer reads the ref name and value of a catalogue pointer slot.
// A ref whose name does not start with PointerPrefix gives ErrNotPointer;
// an empty slot gives ok false; a slot that is not exactly of the grammar
// above is damaged (ErrCorrupt); another version is refused as
// unsupported.
func ParsePointer(name, value string) (p Pointer, ok bool, err error) {
	slot, isPtr := strings.CutPrefix(name, PointerPrefix)
	if !isPtr {
		return p, false, ErrNotPointer
	}
	if n, err := strconv.Atoi(slot); err != nil || len(slot) != 2 || n >= MaxPointers {
		return p, false, fmt.Errorf("catalogue pointer %s: %w: not a slot cat-00 to cat-%02d", clipPointer(name), ErrCorrupt, MaxPointers-1)
	}
	if value == "" {
		return p, false, nil
	}
	f := strings.Split(value, " ")
	if len(f) >= 2 && f[0] == pointerMagic && f[1] != pointerVersion && isDecimal(f[1]) {
		return p, false, fmt.Errorf("catalogue pointer %s: %w: version %q", name, ErrUnsupportedVersion, clipPointer(f[1]))
	}
	if len(f) != 7 || f[0] != pointerMagic || f[1] != pointerVersion {
		return p, false, fmt.Errorf("catalogue pointer %s: %w: %q", name, ErrCorrupt, clipPointer(value))
	}
	p.Kind = f[2]
	id, err := hex.DecodeString(f[3])
	ns, err1 := strconv.ParseInt(f[4], 10, 64)
	size, err2 := strconv.ParseInt(f[5], 10, 64)
	if err != nil || len(id) != len(p.Pack) || hex.EncodeToString(id) != f[3] || err1 != nil || err2 != nil ||
		strconv.FormatInt(ns, 10) != f[4] || strconv.FormatInt(size, 10) != f[5] {
		return Pointer{}, false, fmt.Errorf("catalogue pointer %s: %w: %q", name, ErrCorrupt, clipPointer(value))
	}
	copy(p.Pack[:], id)
	p.Created, p.Size, p.Archive = time.Unix(0, ns).UTC(), size, f[6]
	if err := p.check(); err != nil {
		return Pointer{}, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return p, true, nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func clipPointer(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
