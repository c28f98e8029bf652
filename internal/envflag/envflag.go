// Package envflag is the flag handling shared by nomnom's command lines:
// a flag set whose defaults come from environment variables, so that every
// setting has one name in the environment and one on the command line, and
// secrets that never show in usage output or errors. Only the command
// packages (cli, workercmd and the internal command helpers) use it; the
// libraries take Config structs and never read the environment.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUsage is returned for a command line that cannot be run; the usage has
// already been printed. Mains exit with status 2 for it.
var ErrUsage = errors.New("usage")

// Output returns w, or os.Stderr when w is nil.
func Output(w io.Writer) io.Writer {
	if w == nil {
		return os.Stderr
	}
	return w
}

// RedactDatabaseError returns err's text with the password of databaseURL
// replaced by ***, so that it never reaches a log or a terminal.
func RedactDatabaseError(err error, databaseURL string) string {
	msg := err.Error()
	if cfg, perr := pgxpool.ParseConfig(databaseURL); perr == nil && cfg.ConnConfig.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.ConnConfig.Password, "***")
	}
	return msg
}

// Set is a flag set whose defaults come from environment variables, so
// that every setting has one name in the environment and one on the command
// line, and a flag overrides the environment. Invalid environment values are
// collected and reported by Parse.
type Set struct {
	*flag.FlagSet
	lookup func(string) (string, bool)
	errs   []error
	// fromEnv are applied after parsing: secrets read from the environment
	// when their flag was not given.
	fromEnv []func()
}

// New returns an empty Set that reports errors to its caller
// (flag.ContinueOnError) and reads the process environment.
func New(name string) *Set {
	return &Set{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), lookup: os.LookupEnv}
}

// Parse parses args and reports the first invalid environment value or flag.
// Flags may come before or after the positional arguments ("migrate up
// --create-database" and "migrate --create-database up" are the same); "--"
// ends the flags. Args() returns the positional arguments afterwards.
func (f *Set) Parse(args []string) error {
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	var positional []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			return err
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if err := f.FlagSet.Parse(append([]string{"--"}, positional...)); err != nil {
		return err
	}
	for _, apply := range f.fromEnv {
		apply()
	}
	return nil
}

func (f *Set) env(name string) (string, bool) {
	v, ok := f.lookup(name)
	return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
}

func usageText(env, text string) string {
	return fmt.Sprintf("%s (env %s)", text, env)
}

// String defines a string flag defaulting to $env, then def.
func (f *Set) String(p *string, name, env, def, text string) {
	if v, ok := f.env(env); ok {
		def = v
	}
	f.StringVar(p, name, def, usageText(env, text))
}

// Secret defines a string flag for a credential (or a URL that may carry
// one) defaulting to $env, then def. Unlike String, the value from the
// environment never becomes the flag's printed default, so usage output and
// the logs it lands in never show it.
func (f *Set) Secret(p *string, name, env, def, text string) {
	f.StringVar(p, name, def, usageText(env, text))
	f.fromEnv = append(f.fromEnv, func() {
		given := false
		f.Visit(func(fl *flag.Flag) { given = given || fl.Name == name })
		if v, ok := f.env(env); ok && !given {
			*p = v
		}
	})
}

// Bool defines a boolean flag defaulting to $env (true, false, 1, 0…),
// then def.
func (f *Set) Bool(p *bool, name, env string, def bool, text string) {
	if v, ok := f.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not true or false", env, v))
		} else {
			def = b
		}
	}
	f.BoolVar(p, name, def, usageText(env, text))
}

// Int defines an int flag defaulting to $env, then def.
func (f *Set) Int(p *int, name, env string, def int, text string) {
	if v, ok := f.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, usageText(env, text))
}

// Int64 defines an int64 flag defaulting to $env, then def.
func (f *Set) Int64(p *int64, name, env string, def int64, text string) {
	if v, ok := f.env(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.Int64Var(p, name, def, usageText(env, text))
}

// Duration defines a duration flag defaulting to $env, then def.
func (f *Set) Duration(p *time.Duration, name, env string, def time.Duration, text string) {
	if v, ok := f.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration (e.g. 500ms, 30s)", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, usageText(env, text))
}

// Durations defines a comma-separated duration list flag defaulting to $env,
// then def.
func (f *Set) Durations(p *[]time.Duration, name, env string, def []time.Duration, text string) {
	if v, ok := f.env(env); ok {
		ds, err := parseDurations(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: %v", env, v, err))
		} else {
			def = ds
		}
	}
	*p = def
	f.Func(name, usageText(env, text+" (comma-separated durations)"), func(s string) error {
		ds, err := parseDurations(s)
		if err == nil {
			*p = ds
		}
		return err
	})
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration", part)
		}
		out = append(out, d)
	}
	return out, nil
}
