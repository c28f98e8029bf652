package cli

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// flags is a flag set whose defaults come from environment variables, so
// that every setting has one name in the environment and one on the command
// line, and a flag overrides the environment. Invalid environment values are
// collected and reported together by parse.
type flags struct {
	*flag.FlagSet
	lookup func(string) (string, bool)
	errs   []error
	// fromEnv are applied after parsing: secrets read from the environment
	// when their flag was not given.
	fromEnv []func()
}

func newFlags(name string) *flags {
	return &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), lookup: os.LookupEnv}
}

// parse parses args and reports the first invalid environment value or flag.
// Flags may come before or after the positional arguments ("migrate up
// --create-database" and "migrate --create-database up" are the same); "--"
// ends the flags. Args() returns the positional arguments afterwards.
func (f *flags) parse(args []string) error {
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	var positional []string
	for {
		if err := f.Parse(args); err != nil {
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
	if err := f.Parse(append([]string{"--"}, positional...)); err != nil {
		return err
	}
	for _, apply := range f.fromEnv {
		apply()
	}
	return nil
}

func (f *flags) env(name string) (string, bool) {
	v, ok := f.lookup(name)
	return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
}

func usageText(env, text string) string {
	return fmt.Sprintf("%s (env %s)", text, env)
}

// String defines a string flag defaulting to $env, then def.
func (f *flags) String(p *string, name, env, def, text string) {
	if v, ok := f.env(env); ok {
		def = v
	}
	f.StringVar(p, name, def, usageText(env, text))
}

// Secret defines a string flag for a credential (or a URL that may carry
// one) defaulting to $env, then def. Unlike String, the value from the
// environment never becomes the flag's printed default, so usage output and
// the logs it lands in never show it.
func (f *flags) Secret(p *string, name, env, def, text string) {
	f.StringVar(p, name, def, usageText(env, text))
	f.fromEnv = append(f.fromEnv, func() {
		given := false
		f.Visit(func(fl *flag.Flag) { given = given || fl.Name == name })
		if v, ok := f.env(env); ok && !given {
			*p = v
		}
	})
}

// Int defines an int flag defaulting to $env, then def.
func (f *flags) Int(p *int, name, env string, def int, text string) {
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
func (f *flags) Int64(p *int64, name, env string, def int64, text string) {
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
func (f *flags) Duration(p *time.Duration, name, env string, def time.Duration, text string) {
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
func (f *flags) Durations(p *[]time.Duration, name, env string, def []time.Duration, text string) {
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
