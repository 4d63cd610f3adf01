package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Where a setting came from, weakest first.
const (
	fromNone = iota
	fromConfig
	fromProfile
	fromEnv
	fromFlag
)

// exclusiveGroups are flags of which only one may be set: a value from a
// stronger source for one of them silences the weaker sources for all of
// them (a --local-store flag is not in conflict with $GRSYNC_BUCKET, it
// wins over it).
func exclusiveGroups() [][]string {
	return [][]string{
		{"local-store", "vault", "bucket"},
		{"encryption-key", "encryption-key-file"},
		{"loglevel", "log-level"},
	}
}

// notInConfig are flags a config file may not set.
func notInConfig(name string) string {
	switch name {
	case "config", "config-profile":
		return "choose the config file and profile with --config and --config-profile (or -P)"
	case "encryption-key":
		return "put the key in a file and name it with encryption-key-file"
	case "help", "version":
		return "it is a command-line flag only"
	}
	return ""
}

// applySettings fills the flags not given on the command line from their
// environment variables, then from the config file's chosen profile, then
// from its top-level settings: flag > environment > profile > top level >
// default.
func (a *app) applySettings(cmd *cobra.Command) error {
	flags := cmd.Flags()
	values := map[string][]string{} // flag name → values, from the strongest source
	source := map[string]int{}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			source[f.Name] = fromFlag
		}
	})
	env := envVars()
	for name, v := range env {
		if flags.Lookup(name) == nil || source[name] != fromNone {
			continue
		}
		if s, ok := os.LookupEnv(v); ok && s != "" {
			values[name], source[name] = []string{s}, fromEnv
		}
	}
	// The config file and profile may come from the environment too.
	if source["config"] == fromEnv {
		a.g.config = values["config"][0]
	}
	if source["config-profile"] == fromEnv {
		a.g.configProfile = values["config-profile"][0]
	}
	delete(values, "config")
	delete(values, "config-profile")
	cfg, err := loadConfig(a.g.config, a.g.configProfile, cmd.Root())
	if err != nil {
		return err
	}
	if cfg.unreadable {
		a.log.Warn("cannot read the config file; going on without it", "file", cfg.path)
	}
	for _, layer := range []struct {
		vals  map[string][]string
		level int
	}{{cfg.profile, fromProfile}, {cfg.top, fromConfig}} {
		for name, v := range layer.vals {
			if flags.Lookup(name) == nil || source[name] != fromNone {
				continue // not a flag of this command, or set more strongly
			}
			values[name], source[name] = v, layer.level
		}
	}
	// Exclusive flags: keep only the strongest source's.
	for _, group := range exclusiveGroups() {
		best := fromNone
		for _, n := range group {
			best = max(best, source[n])
		}
		for _, n := range group {
			if source[n] < best {
				delete(values, n)
			}
		}
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range values[name] {
			if err := flags.Set(name, v); err != nil {
				where := "$" + env[name]
				if source[name] != fromEnv {
					where = fmt.Sprintf("%q in %s", name, cfg.path)
				}
				return usagef("fix or remove it", "invalid value %q for --%s from %s: %v", v, name, where, err)
			}
		}
	}
	return nil
}

// config is what a config file says: its top-level settings and those of
// the chosen profile, as flag values.
type config struct {
	path         string
	top, profile map[string][]string
	unreadable   bool // the default file exists but this user cannot read it
}

// defaultConfigPath is $XDG_CONFIG_HOME/grsync/config.toml (or the
// platform's equivalent), or "" when there is no such folder.
func defaultConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "grsync", "config.toml")
}

// loadConfig reads the config file: path when given (it must exist), else
// the default one when it exists. A profile must exist in it; without one,
// the profile named "default" is used when there is one.
func loadConfig(path, profile string, root *cobra.Command) (config, error) {
	explicit := path != ""
	if !explicit {
		path = defaultConfigPath()
	}
	c := config{path: path, top: map[string][]string{}, profile: map[string][]string{}}
	var raw map[string]any
	_, err := toml.DecodeFile(path, &raw)
	switch {
	case !explicit && errors.Is(err, fs.ErrPermission):
		// Not this user's file (another user's $HOME): as if absent.
		c.unreadable = true
		fallthrough
	case path == "" || (!explicit && errors.Is(err, fs.ErrNotExist)):
		if profile != "" {
			return c, usagef("create the config file, or name it with --config FILE", "--config-profile %s: no config file at %s", profile, path)
		}
		return c, nil
	case errors.Is(err, fs.ErrNotExist):
		return c, usagef("check the --config path", "config file %s does not exist", path)
	case err != nil:
		return c, usagef("fix the file (TOML: name = \"value\", [profile] tables)", "config file %s: %v", path, err)
	}
	known := allFlags(root)
	profiles := map[string]map[string]any{}
	for k, v := range raw {
		if t, ok := v.(map[string]any); ok {
			profiles[k] = t
			continue
		}
		vals, err := settingValues(path, "", k, v, known)
		if err != nil {
			return c, err
		}
		c.top[k] = vals
	}
	name := profile
	if name == "" {
		name = "default"
	}
	p, ok := profiles[name]
	if !ok && profile != "" {
		var have []string
		for k := range profiles {
			have = append(have, k)
		}
		sort.Strings(have)
		hint := "the file has no profiles; add a [" + profile + "] table"
		if len(have) > 0 {
			hint = "the file's profiles are: " + strings.Join(have, ", ")
		}
		return c, usagef(hint, "config file %s has no profile %q", path, profile)
	}
	for k, v := range p {
		if _, nested := v.(map[string]any); nested {
			return c, usagef("profiles hold settings only", "config file %s: profile %q: %q is a table", path, name, k)
		}
		vals, err := settingValues(path, name, k, v, known)
		if err != nil {
			return c, err
		}
		c.profile[k] = vals
	}
	if canon := "loglevel"; c.profile["log-level"] != nil {
		c.profile[canon] = c.profile["log-level"]
		delete(c.profile, "log-level")
	}
	if c.top["log-level"] != nil {
		c.top["loglevel"] = c.top["log-level"]
		delete(c.top, "log-level")
	}
	return c, nil
}

// settingValues checks one setting and turns it into flag values: a
// string, number or boolean is one value, an array one value per element;
// "~/" at the start of a string is the home folder.
func settingValues(path, profile, key string, v any, known map[string]bool) ([]string, error) {
	where := "config file " + path
	if profile != "" {
		where += fmt.Sprintf(", profile %q", profile)
	}
	if why := notInConfig(key); why != "" {
		return nil, usagef(why, "%s: %q cannot be set in a config file", where, key)
	}
	if !known[key] {
		return nil, usagef("use the name of a flag without its dashes (see grsync --help), e.g. local-store = \"/mnt/backup\"",
			"%s: unknown setting %q", where, key)
	}
	one := func(x any) (string, error) {
		switch t := x.(type) {
		case string:
			if strings.HasPrefix(t, "~/") {
				if home, err := os.UserHomeDir(); err == nil {
					t = filepath.Join(home, t[2:])
				}
			}
			return t, nil
		case int64:
			return strconv.FormatInt(t, 10), nil
		case float64:
			if t == math.Trunc(t) {
				return strconv.FormatInt(int64(t), 10), nil
			}
			return strconv.FormatFloat(t, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(t), nil
		}
		return "", usagef("use a string, a number, true/false, or an array of strings", "%s: %q has a value of an unsupported type", where, key)
	}
	if arr, ok := v.([]any); ok {
		var out []string
		for _, x := range arr {
			s, err := one(x)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := one(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// allFlags names every flag of every command.
func allFlags(root *cobra.Command) map[string]bool {
	out := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// parseRate reads a --bwlimit rate: 512k, 10M, 1.5G, 2048 (KiB/s), with an
// optional "B", "iB" or "/s"; "", "0" and "off" mean no limit.
// sizeSuffix splits a size's k, M or G suffix (1024-based, optionally
// followed by "B" or "iB") from its number; without one, the multiplier is
// bare.
func sizeSuffix(s string, bare float64) (string, float64) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "B"), "i")
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			return t[:n-1], 1 << 10
		case 'm', 'M':
			return t[:n-1], 1 << 20
		case 'g', 'G':
			return t[:n-1], 1 << 30
		}
	}
	return t, bare
}

func parseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "0", "off":
		return 0, nil
	}
	bad := usagef("give a rate such as 512k, 10M or 1.5G (bytes per second; k, M, G are 1024-based; a bare number is KiB/s), or off",
		"invalid --bwlimit %q", s)
	// A bare number is KiB/s, as rsync and rclone read it.
	t, mult := sizeSuffix(strings.TrimSuffix(t, "/s"), 1024)
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f*mult > 1<<50 {
		return 0, bad
	}
	r := int64(f * mult)
	if r < 1024 {
		return 0, usagef("use at least 1k (1 KiB/s)", "--bwlimit %q is below 1 KiB/s", s)
	}
	return r, nil
}
