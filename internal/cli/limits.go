package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/authsmtp/authsmtp/store"
)

// parseLimits reads per-hour=N style arguments into l.
func parseLimits(args []string, l *store.SendLimits) error {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); !ok || err != nil || n < 0 {
			return fmt.Errorf("bad limit %q: use per-hour=N, per-day=N or rcpts-per-day=N (0 = default)", a)
		}
		switch k {
		case "per-hour":
			l.PerHour = n
		case "per-day":
			l.PerDay = n
		case "rcpts-per-day":
			l.RcptsPerDay = n
		default:
			return fmt.Errorf("unknown limit %q: use per-hour, per-day or rcpts-per-day", k)
		}
	}
	return nil
}

func printLimits(w io.Writer, who string, l store.SendLimits) {
	show := func(n int) string {
		if n == 0 {
			return "default"
		}
		return fmt.Sprint(n)
	}
	fmt.Fprintf(w, "%s: per-hour=%s per-day=%s rcpts-per-day=%s\n", who, show(l.PerHour), show(l.PerDay), show(l.RcptsPerDay))
}
