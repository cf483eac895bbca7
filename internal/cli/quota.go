package cli

import (
	"fmt"

	"github.com/authsmtp/authsmtp/store"
)

func cmdUserQuota(e *Env) error {
	n, err := store.ParseSize(e.Args[1])
	if err != nil {
		return err
	}
	if err := e.St.SetQuota(e.Args[0], n); err != nil {
		return err
	}
	used, q, err := e.St.Usage(e.Args[0])
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(e.Out, "%s uses the server default quota (%s); %s used\n", e.Args[0], humanSize(q), humanBytes(used))
		return nil
	}
	fmt.Fprintf(e.Out, "quota of %s set to %s; %s used\n", e.Args[0], humanSize(q), humanBytes(used))
	return nil
}

// humanSize prints a quota the way store.ParseSize reads it (0: unlimited).
func humanSize(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return humanBytes(n)
}

// humanBytes prints a byte count.
func humanBytes(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.n {
			v := float64(n) / float64(u.n)
			if n%u.n == 0 {
				return fmt.Sprintf("%d%s", n/u.n, u.s)
			}
			return fmt.Sprintf("%.1f%s", v, u.s)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
