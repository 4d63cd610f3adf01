package main

import (
	"fmt"
	"strings"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/store"
)

// lockSetting is how a target's objects are locked (S3 Object Lock): a
// mode ("" for none) and the days a new object stays locked (0: the
// store's default for its storage class).
type lockSetting struct {
	mode store.LockMode
	days int
}

// String describes the setting for messages: "no object lock",
// "object lock governance for 210 days".
func (l lockSetting) String() string {
	switch {
	case l.mode == "":
		return "no object lock"
	case l.days == 0:
		return "object lock " + strings.ToLower(string(l.mode))
	}
	return fmt.Sprintf("object lock %s for %d days", strings.ToLower(string(l.mode)), l.days)
}

// flags writes the setting as the flags that give it.
func (l lockSetting) flags() string {
	var parts []string
	if l.mode != "" {
		parts = append(parts, "--object-lock "+strings.ToLower(string(l.mode)))
	}
	if l.days != 0 {
		parts = append(parts, fmt.Sprintf("--lock-days %d", l.days))
	}
	return strings.Join(parts, " ")
}

// targetLock is the lock the catalogue records for t.
func targetLock(t catalog.Target) lockSetting {
	return lockSetting{mode: store.LockMode(t.LockMode), days: t.LockDays}
}

// lockFor decides the Object Lock a command opens location's store with:
// the flags (--object-lock, --lock-days), else the lock recorded for the
// target. first says that nothing is stored in the target yet. The local
// store and vaults get the flags as given, and refuse a lock themselves.
func (a *app) lockFor(location string, recorded lockSetting, first bool) (lockSetting, error) {
	flags := lockSetting{mode: a.g.lockMode, days: a.g.lockDays}
	if !strings.HasPrefix(location, "s3:") {
		if flags.mode == "" && flags.days != 0 {
			return lockSetting{}, usagef("leave out --lock-days: it goes with --object-lock, for an S3 bucket",
				"--lock-days %d without --object-lock", flags.days)
		}
		return flags, nil
	}
	if a.lockRebuild && recorded.mode == "" {
		first = true // the objects are stored as they are; later writes get the lock
	}
	return chooseLock(location, flags, recorded, first && a.lockMaySet)
}

// chooseLock is the rule of lockFor for an S3 target: without flags, the
// recorded lock; a target's first sync (mayChoose) takes the flags and
// records them; after that, flags must say what is recorded, since
// objects stored without a lock (or with another) would stay so.
func chooseLock(location string, flags, recorded lockSetting, mayChoose bool) (lockSetting, error) {
	if flags == (lockSetting{}) {
		return recorded, nil
	}
	if mayChoose {
		if flags.mode == "" {
			flags.mode = recorded.mode
		}
		if flags.mode == "" {
			return lockSetting{}, usagef("give --object-lock governance or --object-lock compliance with --lock-days",
				"--lock-days %d without --object-lock", flags.days)
		}
		return flags, nil
	}
	if recorded.mode == "" {
		return lockSetting{}, usagef("leave out "+flags.flags()+" for this target; for backups nobody can delete, sync to a new --prefix or bucket with --object-lock from its first sync",
			"%s: %s has no object lock: its objects were stored without one, and a target's lock is chosen by its first sync", flags.flags(), location)
	}
	want := recorded
	if flags.mode != "" {
		want.mode = flags.mode
	}
	if flags.days != 0 {
		want.days = flags.days
	}
	if want != recorded {
		return lockSetting{}, usagef("leave out "+flags.flags()+": grsync uses the lock the catalogue remembers for the target ("+recorded.flags()+")",
			"%s: %s has had %s since its first sync, and a target's lock cannot change", flags.flags(), location, recorded)
	}
	return recorded, nil
}

// recordLock records, on a first sync (or a rebuild) of a target, the lock
// its store writes, so that later commands use it without the flags.
func (a *app) recordLock(s *session) error {
	if !a.lockMaySet || !strings.HasPrefix(s.target.Location, "s3:") {
		return nil
	}
	var now lockSetting
	if lk, ok := s.store.(store.Locker); ok {
		p := lk.LockPolicy()
		now = lockSetting{mode: p.Mode, days: p.Days}
	}
	if now.mode == "" || now == targetLock(s.target) {
		return nil
	}
	if err := s.cat.SetLock(s.target.ID, string(now.mode), now.days); err != nil {
		return err
	}
	s.target.LockMode, s.target.LockDays = string(now.mode), now.days
	return nil
}
