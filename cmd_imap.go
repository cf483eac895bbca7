package main

import (
	"fmt"
	"strconv"
	"strings"
)

// imapCommands are the mailbox administration commands.
func imapCommands() []command {
	return []command{
		{Words: "user quota", Usage: "ADDRESS SIZE   (SIZE like 500M, 2G, 1048576; 0: the server default)", NArgs: [2]int{2, 2}, Run: cmdUserQuota},
	}
}

// parseSize reads a byte count with an optional K, M, G or T suffix
// (powers of 1024, an optional trailing B or iB).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: use a number of bytes or a size like 500M or 2G", s)
	}
	return n * mult, nil
}

func cmdUserQuota(e *cmdEnv) error {
	n, err := parseSize(e.Args[1])
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

// humanSize prints a quota the way parseSize reads it (0: unlimited).
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
