package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/grsync/grsync/internal/catalog"
	"github.com/grsync/grsync/internal/engine"
	"github.com/grsync/grsync/internal/keys"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/bwlimit"
	"github.com/grsync/grsync/internal/store/local"
	"github.com/grsync/grsync/internal/store/retry"
	"github.com/grsync/grsync/internal/store/s3store"
	"github.com/grsync/grsync/internal/store/storelog"
	"github.com/grsync/grsync/internal/store/vault"
)

const keyEnv = "GRSYNC_ENCRYPTION_KEY"

// globalOptions are the flags every command takes: the target, the
// catalogue, the key, and how the run reports.
type globalOptions struct {
	db                string
	localStore        string
	vault, region     string
	bucket, prefix    string
	storageClass      string
	profile, endpoint string
	key, keyFile      string
	logLevel          string
	quiet             bool
	verbose           bool
	json              bool
	jsonProgress      bool
	jobs              int
	bwlimit           string
	bwRate            int64 // --bwlimit in bytes per second; 0 = no limit
	config            string
	configProfile     string
	objectLock        string         // --object-lock as given
	lockMode          store.LockMode // --object-lock, checked; "" when not given
	lockDays          int            // --lock-days; 0 when not given
}

// envVars names the environment variable behind each flag that has one.
func envVars() map[string]string {
	return map[string]string{
		"db":                  "GRSYNC_DB",
		"local-store":         "GRSYNC_LOCAL_STORE",
		"vault":               "GRSYNC_VAULT",
		"region":              "GRSYNC_REGION",
		"bucket":              "GRSYNC_BUCKET",
		"prefix":              "GRSYNC_PREFIX",
		"storage-class":       "GRSYNC_STORAGE_CLASS",
		"encryption-key-file": "GRSYNC_ENCRYPTION_KEY_FILE",
		"loglevel":            "GRSYNC_LOGLEVEL",
		"jobs":                "GRSYNC_JOBS",
		"bwlimit":             "GRSYNC_BWLIMIT",
		"config":              "GRSYNC_CONFIG",
		"config-profile":      "GRSYNC_CONFIG_PROFILE",
		"object-lock":         "GRSYNC_OBJECT_LOCK",
		"lock-days":           "GRSYNC_LOCK_DAYS",
	}
}

func (g *globalOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.db, "db", "glacier.db", "catalogue file (SQLite) recording what was backed up")
	fs.StringVar(&g.localStore, "local-store", "", "target: a local directory store (created if missing)")
	fs.StringVar(&g.vault, "vault", "", "target: Amazon S3 Glacier vault name (with --region)")
	fs.StringVar(&g.region, "region", "", "AWS region of the vault or bucket")
	fs.StringVar(&g.bucket, "bucket", "", "target: S3 bucket, objects stored with a Glacier storage class")
	fs.StringVar(&g.prefix, "prefix", "", "key prefix inside --bucket")
	fs.StringVar(&g.storageClass, "storage-class", "", "S3 storage class for --bucket (default DEEP_ARCHIVE)")
	fs.StringVar(&g.profile, "profile", "", "AWS shared-config profile (default: $AWS_PROFILE)")
	fs.StringVar(&g.endpoint, "endpoint-url", "", "AWS endpoint URL (default: $AWS_ENDPOINT_URL)")
	fs.StringVar(&g.key, "encryption-key", "", "the key itself (visible to other users in the process list: prefer --encryption-key-file or $"+keyEnv+")")
	fs.StringVar(&g.keyFile, "encryption-key-file", "", "file holding the key (32 bytes, url-safe base64, mode 0600)")
	fs.StringVar(&g.logLevel, "loglevel", "INFO", "log level: CRITICAL, ERROR, WARNING, INFO or DEBUG (DEBUG logs each store request and each file's decision)")
	fs.StringVar(&g.logLevel, "log-level", "INFO", "same as --loglevel")
	fs.BoolVarP(&g.quiet, "quiet", "q", false, "print nothing but errors (no progress, no summary; the exit code tells)")
	fs.BoolVar(&g.json, "json", false, "print results as JSON lines on stdout (schema in the README); logs go to stderr as JSON")
	fs.BoolVar(&g.jsonProgress, "json-progress", false, "with --json, also print a status line every second and a line for each finished file")
	fs.IntVar(&g.jobs, "jobs", 4, "files processed in parallel")
	fs.StringVar(&g.bwlimit, "bwlimit", "", "limit transfers to and from the store to RATE bytes per second, all files together: 512k, 10M, 1.5G (k, M, G are 1024-based; a bare number is KiB/s)")
	fs.StringVar(&g.config, "config", "", "config file (TOML) with settings and named profiles (default $XDG_CONFIG_HOME/grsync/config.toml, if it exists)")
	fs.StringVarP(&g.configProfile, "config-profile", "P", "", "use the settings of this profile of the config file")
	fs.StringVar(&g.objectLock, "object-lock", "", "S3 Object Lock of --bucket's objects: governance or compliance (the bucket needs Object Lock on); chosen by a target's first sync, remembered by the catalogue")
	fs.IntVar(&g.lockDays, "lock-days", 0, "with --object-lock: days a new object stays locked (default: its class's minimum storage duration + 30, 210 for DEEP_ARCHIVE); "+
		"iam-policy --policy vault-lock: the age below which archives cannot be deleted")
	for name, env := range envVars() {
		f := fs.Lookup(name)
		f.Usage += " (env " + env + ")"
	}
}

func (g *globalOptions) validate() error {
	n := 0
	for _, t := range []string{g.localStore, g.vault, g.bucket} {
		if t != "" {
			n++
		}
	}
	if n > 1 {
		return usagef("give exactly one of --local-store, --vault or --bucket", "conflicting targets")
	}
	if g.key != "" && g.keyFile != "" {
		return usagef("give the key one way only; a key file is safer", "both --encryption-key and --encryption-key-file were given")
	}
	if g.jobs < 1 || g.jobs > 64 {
		return usagef("use a value from 1 to 64", "invalid --jobs %d", g.jobs)
	}
	if g.vault != "" && g.region == "" {
		return usagef("add --region, e.g. --region us-east-1", "--vault needs --region")
	}
	if g.jsonProgress && !g.json {
		return usagef("add --json", "--json-progress needs --json")
	}
	r, err := parseRate(g.bwlimit)
	if err != nil {
		return err
	}
	g.bwRate = r
	g.lockMode = ""
	if g.objectLock != "" {
		m, err := store.ParseLockMode(g.objectLock)
		if err != nil {
			return usagef("use --object-lock governance or --object-lock compliance", "%v", err)
		}
		g.lockMode = m
	}
	if g.lockDays < 0 || g.lockDays > s3store.MaxLockDays {
		return usagef(fmt.Sprintf("give --lock-days from 1 to %d", s3store.MaxLockDays), "--lock-days %d is out of range", g.lockDays)
	}
	return nil
}

// targetLocation returns the location string of the target named by flags,
// or "" when no target flag was given.
func (g *globalOptions) targetLocation() (string, error) {
	switch {
	case g.localStore != "":
		abs, err := filepath.Abs(g.localStore)
		if err != nil {
			return "", asUsage(err, "check the --local-store path")
		}
		return "local:" + filepath.Clean(abs), nil
	case g.vault != "":
		return "glacier:" + g.region + ":" + g.vault, nil
	case g.bucket != "":
		// The same form as the S3 store's Location: "s3:BUCKET" or "s3:BUCKET/PREFIX".
		if p := strings.Trim(g.prefix, "/"); p != "" {
			return "s3:" + g.bucket + "/" + p, nil
		}
		return "s3:" + g.bucket, nil
	}
	return "", nil
}

// resolveTarget picks the target: the one named by flags, else the one the
// catalogue used last.
func (a *app) resolveTarget(cat *catalog.Catalog) (string, error) {
	loc, err := a.g.targetLocation()
	if err != nil || loc != "" {
		return loc, err
	}
	if cat != nil {
		if t, ok, err := cat.DefaultTarget(); err != nil {
			return "", err
		} else if ok {
			return t.Location, nil
		}
	}
	return "", usagef("give --local-store DIR (a folder; no AWS account needed), --vault NAME --region R, or --bucket NAME --region R",
		"no target: the catalogue %s does not name one", a.g.db)
}

// connection is how an AWS target is reached: its region and endpoint URL
// ("" for AWS's own). The catalogue remembers it with the target.
type connection struct{ region, endpoint string }

// connected is implemented by the AWS stores: the region and endpoint in
// effect once they are open.
type connected interface {
	Connection() (region, endpoint string)
}

// endpointFromEnv reports whether the environment names an endpoint for
// the service (as the AWS CLI reads AWS_ENDPOINT_URL_<SERVICE> and
// AWS_ENDPOINT_URL).
func endpointFromEnv(service string) bool {
	return os.Getenv("AWS_ENDPOINT_URL_"+service) != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// pick chooses the region and endpoint of an AWS store: a flag first, then
// for the endpoint the environment, then what the target remembers, then
// (when all are empty) the AWS configuration's own.
func (a *app) pick(service string, remembered connection) connection {
	c := connection{region: a.g.region, endpoint: a.g.endpoint}
	if c.region == "" {
		c.region = remembered.region
	}
	if c.endpoint == "" && !endpointFromEnv(service) {
		c.endpoint = remembered.endpoint
	}
	return c
}

// memory is what the catalogue remembers of a target: how it was last
// reached, its Object Lock, and whether anything is stored in it yet.
type memory struct {
	conn   connection
	lock   lockSetting
	stored bool
}

// remembered returns what the catalogue remembers of the target location,
// peeking at an existing catalogue read-only; nothing if there is none, it
// does not know the target, or the flags and environment already say all
// it could. An S3 target's lock is always looked up.
func (a *app) remembered(location string) memory {
	need := false
	switch {
	case strings.HasPrefix(location, "s3:"):
		need = true // its lock, its region and endpoint
	case strings.HasPrefix(location, "glacier:"):
		need = a.g.endpoint == "" && !endpointFromEnv("GLACIER")
	}
	if !need || !fileExists(a.g.db) {
		return memory{}
	}
	cat, err := catalog.Open(a.g.db, catalog.OpenOptions{ReadOnly: true})
	if err != nil {
		return memory{stored: true} // opening it for real reports the problem
	}
	defer cat.Close()
	t, ok, err := cat.Target(location)
	if err != nil || !ok {
		return memory{stored: err != nil}
	}
	stored, err := cat.HasStored(t.ID)
	return memory{conn: connection{t.Region, t.Endpoint}, lock: targetLock(t), stored: stored || err != nil}
}

// openStore opens the store for a target location, and says how it was
// reached and what the marker check may ask of it. create says whether a
// missing or empty local store folder may be made a store; remembered is
// how the catalogue last reached the target; lock is the Object Lock its
// objects are written with.
func (a *app) openStore(location string, create bool, remembered connection, lock lockSetting) (store.Store, connection, engine.StoreProbe, error) {
	st, err := a.openStoreAt(location, create, remembered, lock)
	if err != nil {
		return nil, connection{}, engine.StoreProbe{}, err
	}
	var c connection
	if cs, ok := st.(connected); ok {
		c.region, c.endpoint = cs.Connection()
	}
	return a.wrapStore(st), c, probeOf(st), nil
}

// probeOf says what the marker check may ask of a store without a marker
// at no retrieval cost: the local store lists and reads at once, S3 lists
// at once, a vault only reports whether it counts any archive.
func probeOf(st store.Store) engine.StoreProbe {
	switch s := st.(type) {
	case *local.Store:
		return engine.StoreProbe{ListsAtOnce: true, ReadsAtOnce: true}
	case *s3store.Store:
		return engine.StoreProbe{ListsAtOnce: true}
	case *vault.Store:
		return engine.StoreProbe{Empty: s.Empty}
	}
	return engine.StoreProbe{}
}

func (a *app) openStoreAt(location string, create bool, remembered connection, lock lockSetting) (store.Store, error) {
	switch {
	case strings.HasPrefix(location, "local:"):
		dir := strings.TrimPrefix(location, "local:")
		open := local.New
		if !create {
			if _, err := os.Stat(dir); err != nil {
				return nil, usagef("check --local-store (is the disk connected?), or run a sync first", "local store %s does not exist", dir)
			}
			open = local.Open // a mistyped path is never created
		}
		s, err := open(dir, local.Options{ObjectLock: lock.mode})
		if errors.As(err, new(*store.ConfigError)) {
			return nil, err // its own hint
		}
		if err != nil {
			return nil, asUsage(err, "use an empty folder or an existing grsync local store for --local-store")
		}
		return s, nil
	case strings.HasPrefix(location, "glacier:"):
		region, name, _ := strings.Cut(strings.TrimPrefix(location, "glacier:"), ":")
		c := a.pick("GLACIER", remembered)
		s, err := vault.New(a.ctx, vault.Config{
			Region: region, Vault: name, Profile: a.g.profile, EndpointURL: c.endpoint,
			PartSize: a.partSize, Logger: a.log, ObjectLock: lock.mode,
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	case strings.HasPrefix(location, "s3:"):
		s, err := s3store.New(a.ctx, a.s3Config(location, remembered, lock))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, usagef("", "unknown target %q", location)
}

// s3Config is the configuration of the S3 store at location.
func (a *app) s3Config(location string, remembered connection, lock lockSetting) s3store.Config {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(location, "s3:"), "/")
	var part int64
	if a.partSize >= 5<<20 {
		part = a.partSize // S3 parts are at least 5 MiB; below that, its default
	}
	c := a.pick("S3", remembered)
	return s3store.Config{
		Bucket: bucket, Prefix: prefix, Region: c.region, StorageClass: a.g.storageClass,
		Profile: a.g.profile, EndpointURL: c.endpoint, PartSize: part, Logger: a.log,
		ObjectLock: lock.mode, LockDays: lock.days,
	}
}

// checkSettings refuses, before the catalogue is read, the settings of an
// S3 target that no lock the catalogue records could make right (a storage
// class, a part size): a usage error then leaves every file as it was.
func (a *app) checkSettings(location string) error {
	if dir, ok := strings.CutPrefix(location, "local:"); ok {
		return local.CheckObjectLock(dir, a.g.lockMode)
	}
	if !strings.HasPrefix(location, "s3:") {
		return nil
	}
	lock := lockSetting{mode: a.g.lockMode}
	if lock.mode != "" {
		lock.days = a.g.lockDays
	}
	return a.s3Config(location, connection{}, lock).Check()
}

// wrapStore stacks the wrappers every store runs under, in this one place,
// outermost first: bounded retries with backoff (which log each retry);
// the --bwlimit rate, shared by every transfer of the run (inside the
// retries, so a retried transfer is limited again); and, at debug level,
// a log line for every request to the store with its duration.
func (a *app) wrapStore(s store.Store) store.Store {
	if a.log.Enabled(a.ctx, slog.LevelDebug) {
		s = storelog.New(s, a.log)
	}
	if a.g.bwRate > 0 {
		s = bwlimit.New(s, bwlimit.NewLimiter(a.g.bwRate))
	}
	p := retry.DefaultPolicy()
	p.Notify = func(op string, attempt int, err error) {
		a.log.Warn("retrying", "op", op, "attempt", attempt, "err", err)
	}
	return retry.New(s, p)
}

// loadKey returns the key given by --encryption-key-file, --encryption-key or
// $GRSYNC_ENCRYPTION_KEY, or nil when none was given.
func (a *app) loadKey() (*keys.Key, error) {
	const fix = "make a key with: grsync keygen my.key"
	switch {
	case a.g.keyFile != "":
		k, err := keys.LoadFile(a.g.keyFile)
		if err != nil {
			return nil, asUsage(err, keyFileHint(err))
		}
		return &k, nil
	case a.g.key != "":
		a.log.Warn("a key given with --encryption-key can be seen by other users in the process list; prefer --encryption-key-file or $" + keyEnv)
		k, err := keys.Parse(a.g.key)
		if err != nil {
			return nil, asUsage(fmt.Errorf("--encryption-key: %w", err), fix)
		}
		return &k, nil
	case os.Getenv(keyEnv) != "":
		k, err := keys.Parse(os.Getenv(keyEnv))
		if err != nil {
			return nil, asUsage(fmt.Errorf("$%s: %w", keyEnv, err), fix)
		}
		return &k, nil
	}
	return nil, nil
}

// keyFileHint is the advice for a key file LoadFile refused: none beyond
// the error's own chmod when only its mode is wrong (a new key could not
// read the earlier backups), else how to make a key.
func keyFileHint(err error) string {
	var me *keys.ModeError
	if errors.As(err, &me) {
		return ""
	}
	return "make a key with: grsync keygen my.key (only for a new backup: a new key cannot read earlier ones)"
}

// openCatalog opens the catalogue, mapping its failures to clear messages.
func (a *app) openCatalog(readOnly bool) (*catalog.Catalog, error) {
	if readOnly && !fileExists(a.g.db) {
		return nil, usagef("give the catalogue with --db FILE, or rebuild it from the store with: grsync inventory --rebuild --db FILE <target flags>",
			"no catalogue at %s", a.g.db)
	}
	cat, err := catalog.Open(a.g.db, catalog.OpenOptions{ReadOnly: readOnly, Now: a.now})
	switch {
	case err == nil:
		a.warnReadableCatalog()
		return cat, nil
	case errors.Is(err, catalog.ErrLocked):
		return nil, usagef("wait for the other grsync to finish", "%v", err)
	case errors.Is(err, catalog.ErrTooNew):
		return nil, usagef("upgrade grsync to use this catalogue", "%v", err)
	case errors.Is(err, catalog.ErrCorrupt):
		return nil, usagef("restore the catalogue from a copy, or rebuild it from the store with grsync inventory --rebuild --db NEWFILE", "%v", err)
	}
	return nil, asUsage(err, "check the --db path and its folder's permissions")
}

// warnReadableCatalog warns when other users may read the catalogue: it
// names every backed-up path. grsync creates catalogues 0600; older ones
// (and the Python tool's) may be 0644.
func (a *app) warnReadableCatalog() {
	fi, err := os.Stat(a.g.db)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return
	}
	a.log.Warn(fmt.Sprintf("the catalogue %s is readable by other users (mode %04o): they can see every backed-up path; fix with: chmod 600 %s",
		a.g.db, fi.Mode().Perm(), a.g.db))
}

// peeked is a target resolved without opening a store or writing anything.
type peeked struct {
	loc    string           // named by flags, else the catalogue's; "" if neither
	cat    *catalog.Catalog // the catalogue opened read-only, nil when there is none
	target catalog.Target   // the catalogue's record of loc, when found
	found  bool
}

func (p peeked) close() {
	if p.cat != nil {
		p.cat.Close()
	}
}

// peekTarget resolves the target as openSession would (flags first, then
// the catalogue's own), reading the catalogue only if it exists. The
// caller closes the result.
func (a *app) peekTarget() (peeked, error) {
	var p peeked
	loc, err := a.g.targetLocation()
	if err != nil || !fileExists(a.g.db) {
		p.loc = loc
		return p, err
	}
	if p.cat, err = a.openCatalog(true); err != nil {
		return p, err
	}
	if loc == "" {
		if loc, err = a.resolveTarget(p.cat); err != nil {
			p.close()
			return peeked{}, err
		}
	}
	p.loc = loc
	if p.target, p.found, err = p.cat.Target(loc); err != nil {
		p.close()
		return peeked{}, err
	}
	return p, nil
}

// checkKey refuses a key other than the one the catalogue recorded for the
// target's backups, with the message the store's marker gives: mixing keys
// in one store makes part of the backup unreadable.
func checkKey(t catalog.Target, k *keys.Key) error {
	if k == nil || t.KeyFingerprint == "" {
		return nil
	}
	if fp := k.Fingerprint(); fp != t.KeyFingerprint {
		return usagef("use the key file of this store's earlier backups; grsync never mixes keys in one store, which would leave part of the backup unreadable",
			"%s: this store's backups use another key: the catalogue recorded key %s for them, this key is %s", t.Location, t.KeyFingerprint, fp)
	}
	return nil
}

func (a *app) engineConfig(s *session) *engine.Config {
	return &engine.Config{
		Store: s.store, Catalog: s.cat, Target: s.target, Key: s.key,
		Jobs: a.g.jobs, Log: a.log, Now: a.now, Class: a.storageClassOf(s.target.Location),
		HotClass: hotClassOf(s.target.Location),
	}
}

// hotClassOf is the class catalogue snapshots and version records are
// stored in: S3 STANDARD, readable at once (no thaw) when the catalogue
// must be recovered; other stores have one class.
func hotClassOf(location string) string {
	if strings.HasPrefix(location, "s3:") {
		return "STANDARD"
	}
	return ""
}

// storageClassOf is the class new objects of the target are billed in, as
// the catalogue records it for retention and prune.
func (a *app) storageClassOf(location string) string {
	switch {
	case strings.HasPrefix(location, "local:"):
		return "LOCAL"
	case strings.HasPrefix(location, "glacier:"):
		return "VAULT"
	case a.g.storageClass != "":
		return strings.ToUpper(a.g.storageClass)
	}
	return s3store.DefaultStorageClass
}

// fakeNowEnv sets grsync's clock (RFC 3339), for tests and for trying what
// retention and prune would do on a later day. Only the times grsync
// records and compares are affected, never a request to a store.
const fakeNowEnv = "GRSYNC_FAKE_NOW"

// now is the time grsync records and compares with: $GRSYNC_FAKE_NOW when
// set (checked in setup), else the real time.
func (a *app) now() time.Time {
	if !a.fakeNow.IsZero() {
		return a.fakeNow
	}
	return time.Now()
}
