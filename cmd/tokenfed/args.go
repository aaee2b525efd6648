package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Arguments and flag values are never printed. A token pasted in the wrong
// place (`tokenfed review $TOKEN`, `tokenfed $TOKEN`, `--timeout $TOKEN`,
// or a token that starts with "-" and is read as flags) would otherwise
// land on a terminal or in a CI log: cobra's and pflag's own messages quote
// what they were given. Every command uses the functions below instead;
// they name flags, never their values.

// noArgs is cobra.NoArgs without the argument in its message.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %d", cmd.CommandPath(), len(args))
	}
	return nil
}

// noArgsConfigFlag is noArgs for a command that reads its file from
// --config: `tokenfed config validate config.yaml` is the usual slip, so
// without --config the message says where the file goes (still without
// repeating the argument).
func noArgsConfigFlag(cmd *cobra.Command, args []string) error {
	err := noArgs(cmd, args)
	if err != nil && !cmd.Flags().Changed("config") {
		return fmt.Errorf("%w; give the configuration file as --config FILE", err)
	}
	return err
}

// rootArgs refuses a command that is not one, without repeating it: a
// token given with the command name forgotten (`tokenfed $TOKEN`) would
// otherwise be printed as the unknown command. Suggestions are the names
// of commands, never what was typed.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command; run %q for the commands", cmd.CommandPath()+" --help")
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return errors.New(msg)
}

// flagError is a cobra FlagErrorFunc: pflag's error in words that name the
// flag, never its value (nor an unknown flag's text, unless it is plainly
// a flag name).
func flagError(_ *cobra.Command, err error) error {
	return errors.New(flagErrorText(err))
}

func flagErrorText(err error) string {
	var (
		notExist *pflag.NotExistError
		required *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return fmt.Sprintf("invalid value for %s: want a %s (the value is not repeated here)", flagName(f), f.Value.Type())
	case errors.As(err, &required):
		return fmt.Sprintf("flag needs a value: %s", flagName(required.GetFlag()))
	case errors.As(err, &notExist):
		if shorts := notExist.GetSpecifiedShortnames(); shorts != "" {
			// "-x..." may be a token that starts with "-".
			return "unknown shorthand flag in an argument that starts with \"-\"; a token goes in --token-file, stdin or --token, never as an argument"
		}
		if name := notExist.GetSpecifiedName(); looksLikeFlagName(name) {
			return "unknown flag: --" + name
		}
		return "unknown flag"
	case errors.As(err, &syntax):
		return "bad flag syntax"
	}
	// Any other error of flag parsing: its text is not known to be free of
	// values.
	return "invalid flags; see --help"
}

func flagName(f *pflag.Flag) string {
	if f == nil {
		return "a flag"
	}
	if f.Shorthand != "" {
		return fmt.Sprintf("-%s, --%s", f.Shorthand, f.Name)
	}
	return "--" + f.Name
}

// looksLikeFlagName: what a person types as a flag's name, lower case
// words and dashes, which no token of any entropy is.
func looksLikeFlagName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
