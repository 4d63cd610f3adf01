package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/grsync/grsync/internal/store"
)

// The rule of a target's lock: without flags, the recorded one; the first
// sync takes the flags; after it, flags must repeat what is recorded.
func TestChooseLock(t *testing.T) {
	const loc = "s3:b/p"
	none := lockSetting{}
	gov := lockSetting{mode: store.LockGovernance, days: 210}
	comp := lockSetting{mode: store.LockCompliance}
	for _, c := range []struct {
		name            string
		flags, recorded lockSetting
		first           bool
		want            lockSetting
		err             string // part of the error; "" for none
		hint            string // part of its hint
	}{
		{"no flags, nothing recorded", none, none, false, none, "", ""},
		{"no flags: the recorded lock", none, gov, false, gov, "", ""},
		{"first sync takes the flags", comp, none, true, comp, "", ""},
		{"first sync may change an unused record", comp, gov, true, comp, "", ""},
		{"first sync: days alone keep the recorded mode", lockSetting{days: 30}, gov, true, lockSetting{mode: store.LockGovernance, days: 30}, "", ""},
		{"first sync: days without any mode", lockSetting{days: 30}, none, true, none, "--lock-days 30 without --object-lock", "with --lock-days"},
		{"the same flags as recorded", lockSetting{mode: store.LockGovernance}, gov, false, gov, "", ""},
		{"the same days as recorded", lockSetting{days: 210}, gov, false, gov, "", ""},
		{"a lock for a target stored without one", comp, none, false, none, "s3:b/p has no object lock", "sync to a new --prefix or bucket"},
		{"another mode", comp, gov, false, none, "has had object lock governance for 210 days since its first sync", "(--object-lock governance --lock-days 210)"},
		{"other days", lockSetting{mode: store.LockGovernance, days: 3}, gov, false, none, "--object-lock governance --lock-days 3: s3:b/p has had", "leave out --object-lock governance --lock-days 3"},
	} {
		got, err := chooseLock(loc, c.flags, c.recorded, c.first)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
			}
			continue
		}
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.err) || !strings.Contains(ue.hint, c.hint) {
			t.Errorf("%s: got %v, %v; want a usage error with %q and hint %q", c.name, got, err, c.err, c.hint)
		}
	}
}
