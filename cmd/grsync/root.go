package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/grsync/grsync/internal/ui"
)

// app holds what one run of grsync shares between its commands.
type app struct {
	stdin        io.Reader
	stdout       io.Writer
	stderr       io.Writer     // term: log lines erase the progress line first
	term         *ui.Terminal  // stderr, and whether it is a terminal
	stop         chan struct{} // closed on the first Ctrl-C
	exitCode     int
	g            globalOptions
	log          *slog.Logger
	out          ui.Output       // command results: text or JSON lines
	json         *ui.JSONWriter  // stdout as JSON lines with --json, else nil
	ctx          context.Context // the command's context, for opening stores
	partSize     int64           // sync's --part-size; 0 = the store's default
	fakeNow      time.Time       // $GRSYNC_FAKE_NOW, if set
	warnedNoRefs bool            // the "cannot carry a store marker" warning was given
	// lockMaySet: the command (sync, inventory --rebuild) may choose the
	// Object Lock of a target that has nothing stored yet, and records it;
	// lockRebuild: also of one that records no lock (inventory --rebuild
	// learns what a lost catalogue knew).
	lockMaySet, lockRebuild bool
}

func (a *app) rootCommand() *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "grsync [sync] [flags] SRC [SRC...]",
		Short: "Back up files and folders to cold storage, rsync-style",
		Long: `grsync backs up files and folders to cold storage: an Amazon S3 Glacier vault
(--vault), an S3 bucket with a Glacier storage class (--bucket), or a local
directory store (--local-store). Only new and changed files travel; everything is
compressed and encrypted on this machine first; a local SQLite catalogue (--db)
remembers what went where. Without a command, grsync runs "sync", so the Python
glacier-rsync command lines work unchanged.

` + exitCodeHelp,
		Args:                       cobra.NoArgs,
		SuggestionsMinimumDistance: 2,
		SilenceErrors:              true,
		SilenceUsage:               true,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				return a.printVersion()
			}
			return usagef("back up with: grsync [flags] SRC..., e.g. grsync --local-store /mnt/backup ~/Documents; see grsync --help",
				"no command and nothing to back up given")
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return asUsage(err, "see grsync --help")
	})
	a.g.addFlags(root.PersistentFlags())
	root.Flags().BoolVar(&showVersion, "version", false, "print grsync's version, commit, and Go and zstd versions")
	syncCmd := a.syncCommand()
	catCmd := a.catalogueCommand()
	jsonCmds := []*cobra.Command{syncCmd, a.restoreCommand(), a.lsCommand(), a.inventoryCommand(),
		a.verifyCommand(), a.uploadsCommand(), a.lockCommand(), a.versionCommand(), a.pruneCommand(), a.costCommand(), catCmd, a.recoverCommand(),
		a.forgetCommand(), a.targetCommand()}
	printsJSON(append(jsonCmds, root)...)
	root.AddCommand(jsonCmds...)
	root.AddCommand(
		a.keygenCommand(),
		a.keyCommand(),
		a.iamPolicyCommand(),
	)
	for _, c := range root.Commands() {
		c.Long = strings.TrimSpace(c.Long+"\n\n"+exitCodeHelp) + "\n"
	}
	usageArgs(root)
	groupCommands(root)
	defaultHelp := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c != root {
			defaultHelp(c, args)
			return
		}
		writeRootHelp(c.OutOrStdout(), root, syncCmd)
	})
	return root
}

// writeRootHelp is grsync --help: as the Python tool's --help did, it
// lists the flags of sync, the default command, beside the commands and
// the global flags.
func writeRootHelp(w io.Writer, root, syncCmd *cobra.Command) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  grsync [sync] [flags] SRC [SRC...]   back up (sync is the default command)\n  grsync COMMAND [flags]\n\nCommands:\n", root.Long)
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			fmt.Fprintf(w, "  %-10s %s\n", c.Name(), c.Short)
		}
	}
	fmt.Fprintf(w, "\nFlags of sync (the default command):\n%s", syncCmd.LocalNonPersistentFlags().FlagUsages())
	fmt.Fprintf(w, "\nFlags of every command:\n%s", root.PersistentFlags().FlagUsages())
	fmt.Fprintf(w, "      --version                      %s\n", root.Flags().Lookup("version").Usage)
	fmt.Fprintf(w, "\n%s\n\nUse \"grsync COMMAND --help\" for more about a command.\n", settingsHelp)
}

const settingsHelp = `Settings come from, in this order: the flag; its environment variable (named in
the flag's help, e.g. GRSYNC_DB); the profile chosen with --config-profile in the
config file (--config, default $XDG_CONFIG_HOME/grsync/config.toml); the default.`

// usageArgs makes a wrong number of arguments a usage error (exit 2), for
// cmd and every command below it.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			return asUsage(check(c, args), "see "+c.CommandPath()+" --help")
		}
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
}

// jsonAnnotation marks a command that prints JSON lines with --json; any
// other refuses --json, so that a script never parses text by mistake.
const jsonAnnotation = "grsync-json"

// printsJSON marks commands as printing JSON lines with --json.
func printsJSON(cmds ...*cobra.Command) {
	for _, c := range cmds {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[jsonAnnotation] = "yes"
		printsJSON(c.Commands()...)
	}
}

// setup applies the environment and the config file to the flags not
// given, validates the global flags, and prepares logging and output.
func (a *app) setup(cmd *cobra.Command) error {
	a.ctx = cmd.Context()
	if v := os.Getenv(fakeNowEnv); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return usagef("use an RFC 3339 time, e.g. 2026-03-01T12:00:00Z, or unset it", "$%s: %v", fakeNowEnv, err)
		}
		a.fakeNow = t
	}
	if a.g.json {
		a.json = ui.NewJSONWriter(a.stdout)
		a.out = ui.JSONOutput{W: a.json}
	} else {
		a.out = ui.NewTextOutput(a.stdout, a.g.quiet)
	}
	// Until the settings are read, problems are logged at the default level.
	a.log = a.newLogger(slog.LevelInfo)
	if err := a.applySettings(cmd); err != nil {
		return err
	}
	if !a.g.json {
		a.out = ui.NewTextOutput(a.stdout, a.g.quiet) // --quiet may come from the config
	} else if a.json == nil {
		a.json = ui.NewJSONWriter(a.stdout)
		a.out = ui.JSONOutput{W: a.json}
	}
	if a.g.json && cmd.Annotations[jsonAnnotation] == "" {
		return usagef("leave out --json", "%s does not print JSON", cmd.CommandPath())
	}
	level, err := parseLogLevel(a.g.logLevel)
	if err != nil {
		return err
	}
	fs := cmd.Flags()
	if a.g.quiet && !fs.Changed("loglevel") && !fs.Changed("log-level") {
		level = slog.LevelError // --quiet: nothing but errors
	}
	a.log = a.newLogger(level)
	return a.g.validate()
}

// newLogger logs to stderr: text without timestamps for people (names
// quoted and escaped by slog), JSON with --json.
func (a *app) newLogger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if a.g.json {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	opts.ReplaceAttr = func(_ []string, at slog.Attr) slog.Attr {
		if at.Key == slog.TimeKey {
			return slog.Attr{} // terminal output: no timestamps
		}
		return at
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// parseLogLevel accepts the Python tool's levels (CRITICAL, FATAL, ERROR,
// WARN, WARNING, INFO, DEBUG, NOTSET), in any case.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL", "FATAL":
		return slog.LevelError + 4, nil
	case "ERROR":
		return slog.LevelError, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "", "INFO":
		return slog.LevelInfo, nil
	case "DEBUG", "NOTSET":
		return slog.LevelDebug, nil
	}
	return 0, usagef("use one of CRITICAL, FATAL, ERROR, WARN, WARNING, INFO, DEBUG, NOTSET",
		"invalid log level %q", s)
}

// boolFlag is a flag taking the values Python's str2bool took (yes/true/t/y/1,
// no/false/f/n/0, any case); a bare flag means true. It remembers whether it
// was given.
type boolFlag struct {
	value, set bool
}

func (b *boolFlag) String() string {
	if b == nil {
		return "false"
	}
	return fmt.Sprint(b.value)
}
func (b *boolFlag) Type() string { return "BOOL" }
func (b *boolFlag) Set(s string) error {
	v, ok := str2bool(s)
	if !ok {
		return fmt.Errorf("%q is not a boolean: use true or false (also yes/no, t/f, y/n, 1/0)", s)
	}
	b.value, b.set = v, true
	return nil
}

func str2bool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "t", "y", "1":
		return true, true
	case "no", "false", "f", "n", "0":
		return false, true
	}
	return false, false
}

func addBoolFlag(fs *pflag.FlagSet, b *boolFlag, name, usage string) {
	fs.Var(b, name, usage)
	fs.Lookup(name).NoOptDefVal = "true"
}

// normalizeArgs makes the Python tool's command lines parse: it inserts
// "sync" when no command is named, and joins "--compress true" into
// "--compress=true" for the boolean flags that may also stand alone. A
// first word that is no command and no existing file but looks like a
// mistyped command ("restor") is a usage error suggesting the command.
func normalizeArgs(root *cobra.Command, args []string) ([]string, error) {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "--compress" || a == "--encrypt") && i+1 < len(args) {
			// The next word is the flag's value when it reads as a boolean,
			// or when it is not an existing path (then the flag reports it);
			// otherwise the flag stands alone and the word is a SRC.
			next := args[i+1]
			_, isBool := str2bool(next)
			if isBool || (!strings.HasPrefix(next, "-") && !pathExists(next)) {
				out = append(out, a+"="+next)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return out, nil
	}
	// Find the first positional word, skipping flags and their values.
	flags := pflag.NewFlagSet("probe", pflag.ContinueOnError)
	flags.AddFlagSet(root.PersistentFlags())
	flags.AddFlagSet(root.LocalNonPersistentFlags())
	if sc, _, err := root.Find([]string{"sync"}); err == nil {
		flags.AddFlagSet(sc.LocalNonPersistentFlags())
	}
	for i := 0; i < len(out); i++ {
		w := out[i]
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "-") && w != "-" {
			name := strings.TrimLeft(w, "-")
			if strings.Contains(name, "=") {
				continue
			}
			var f *pflag.Flag
			if len(name) == 1 && !strings.HasPrefix(w, "--") {
				f = flags.ShorthandLookup(name)
			} else {
				f = flags.Lookup(name)
			}
			if name == "h" || name == "help" || name == "version" {
				return out, nil
			}
			if f != nil && f.NoOptDefVal == "" {
				i++ // the flag's value
			}
			continue
		}
		if isCommand(root, w) {
			// Move the command to the front: "grsync --db x restore" works.
			return append(append([]string{w}, out[:i]...), out[i+1:]...), nil
		}
		if w != "" && !pathExists(w) { // "" is an empty SRC, which sync refuses
			// "sync" is left out: a mistyped "sync" reads as a SRC that does
			// not exist, which sync reports; and "src" is close to it. So is
			// a command two edits away from a short word: "docs" and "logs"
			// are folders more likely than a mistyped "lock".
			var s []string
			for _, c := range root.SuggestionsFor(w) {
				lw := strings.ToLower(w)
				if c != "sync" && (strings.HasPrefix(c, lw) || editDistance(lw, c) <= max(1, len(c)/3)) {
					s = append(s, c)
				}
			}
			if len(s) > 0 {
				return nil, usagef("did you mean "+strings.Join(s, " or ")+"? (see grsync --help)",
					"%q is not a command, nor a file or folder to back up", w)
			}
		}
		break
	}
	return append([]string{"sync"}, out...), nil
}

// editDistance is the edit distance of a and b, in bytes: insertions,
// deletions, substitutions and swaps of two neighbours ("mvoe" is 1 from
// "move"), each counting 1 (the optimal string alignment distance).
func editDistance(a, b string) int {
	pprev := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pprev[j-2]+1)
			}
		}
		pprev, prev, cur = prev, cur, pprev
	}
	return prev[len(b)]
}

func isCommand(root *cobra.Command, w string) bool {
	if w == "help" {
		return true
	}
	for _, c := range root.Commands() {
		if c.Name() == w || c.HasAlias(w) {
			return true
		}
	}
	return false
}

func pathExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// printf writes raw text to stdout (keys, identities: never JSON).
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}
