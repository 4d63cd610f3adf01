package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// groupCommands makes every command below root that only groups others
// (uploads, target, key, lock, catalogue) refuse what is not one of its
// commands, as the root does: exit 2 with "did you mean" instead of
// printing its help and exiting 0, so a mistyped word in a cron line
// fails. Called after usageArgs, which would replace the hint.
func groupCommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		groupCommands(c)
		if !c.HasSubCommands() {
			continue
		}
		c.Args = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return unknownSubcommand(c, args[0])
		}
		c.RunE = func(c *cobra.Command, _ []string) error {
			return usagef(fmt.Sprintf("use: %s %s (see %s --help)", c.CommandPath(), strings.Join(subcommandNames(c), " or "), c.CommandPath()),
				"%s needs a command", c.CommandPath())
		}
	}
}

// unknownSubcommand is the error for word given to group command c.
func unknownSubcommand(c *cobra.Command, word string) error {
	names := subcommandNames(c)
	var close []string
	lw := strings.ToLower(word)
	for _, n := range names {
		if isNear(lw, n) {
			close = append(close, n)
		}
	}
	hint := fmt.Sprintf("%s has the commands %s (see %s --help)", c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
	if len(close) > 0 {
		hint = fmt.Sprintf("did you mean %s %s? (see %s --help)", c.CommandPath(), strings.Join(close, " or "), c.CommandPath())
	}
	return usagef(hint, "unknown command %q for %q", word, c.CommandPath())
}

// isNear reports whether the typed word w reads as a mistyped name: its
// start ("export" for "export-age"), or at most a third of its letters
// off, from the whole name or from the name's start of w's length give or
// take one ("exprt" for "export-age").
func isNear(w, name string) bool {
	if w == "" {
		return false
	}
	if strings.HasPrefix(name, w) || editDistance(w, name) <= max(1, len(name)/3) {
		return true
	}
	for n := len(w) - 1; n <= len(w)+1; n++ {
		if n >= 3 && n < len(name) && editDistance(w, name[:n]) <= 1 {
			return true
		}
	}
	return false
}

func subcommandNames(c *cobra.Command) []string {
	var names []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return names
}
