package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// queueCommands look at and steer the outbound queue.
func queueCommands() []Command {
	return []Command{
		{Words: "queue list", NArgs: [2]int{0, 0}, Run: cmdQueueList},
		{Words: "queue show", Usage: "ID", NArgs: [2]int{1, 1}, Run: cmdQueueShow},
		{Words: "queue retry", Usage: "ID|all", NArgs: [2]int{1, 1}, Run: cmdQueueRetry},
		{Words: "queue delete", Usage: "ID", NArgs: [2]int{1, 1}, Run: cmdQueueDelete},
		{Words: "queue captured", Usage: "[LOGIN] [--clear]", NArgs: [2]int{0, 1}, Extras: []string{"clear"}, Run: cmdQueueCaptured},
	}
}

func cmdQueueList(e *Env) error {
	qs, err := e.St.ListQueue()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tTO\tSIZE\tAGE\tSTATE")
	for _, q := range qs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", q.ID, orNull(q.From), rcptSummary(q), q.Size,
			time.Since(q.Created).Round(time.Second), queueState(q))
	}
	return tw.Flush()
}

func orNull(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

func rcptSummary(q store.QueueEntry) string {
	if len(q.Rcpts) == 1 {
		return q.Rcpts[0].Address
	}
	return fmt.Sprintf("%s (+%d)", q.Rcpts[0].Address, len(q.Rcpts)-1)
}

func queueState(q store.QueueEntry) string {
	switch {
	case q.Captured:
		return "captured for " + q.Login
	case len(q.Attempts) == 0:
		return "waiting"
	}
	last := q.Attempts[len(q.Attempts)-1]
	return fmt.Sprintf("retry at %s (%d tries; last: %s)", q.NextAttempt.Local().Format("15:04:05"), q.Tries, oneLineCut(last.Reply, 60))
}

func oneLineCut(s string, n int) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmdQueueShow(e *Env) error {
	id, err := store.ParseQueueID(e.Args[0])
	if err != nil {
		return err
	}
	q, err := e.St.GetQueue(id)
	if err != nil {
		return err
	}
	w := e.Out
	fmt.Fprintf(w, "id:        %s\n", q.ID)
	fmt.Fprintf(w, "from:      %s\n", orNull(q.From))
	if q.Login != "" {
		fmt.Fprintf(w, "login:     %s\n", q.Login)
	}
	if q.CID != "" {
		// Exactly as in the server's log lines of that session.
		fmt.Fprintf(w, "session:   service=%s cid=%s (in the server log)\n", q.Service, q.CID)
	}
	if q.Subject != "" {
		fmt.Fprintf(w, "subject:   %q\n", q.Subject)
	}
	fmt.Fprintf(w, "size:      %d bytes\n", q.Size)
	fmt.Fprintf(w, "queued:    %s\n", q.Created.Local().Format(time.RFC3339))
	switch {
	case q.Captured:
		fmt.Fprintf(w, "state:     captured (demo mode: never delivered)\n")
	case len(q.Pending()) > 0:
		fmt.Fprintf(w, "next try:  %s\n", q.NextAttempt.Local().Format(time.RFC3339))
	}
	if q.DSN {
		fmt.Fprintf(w, "kind:      delivery status notification (never bounced)\n")
	}
	fmt.Fprintln(w, "recipients:")
	for _, r := range q.Rcpts {
		fmt.Fprintf(w, "  %-8s %s  %s\n", r.Status, r.Address, oneLineCut(r.Reply, 200))
	}
	fmt.Fprintln(w, "timeline:")
	if len(q.Attempts) == 0 {
		fmt.Fprintln(w, "  no attempt yet")
	}
	for _, a := range q.Attempts {
		host := a.Host
		if host == "" {
			host = "-"
		}
		fmt.Fprintf(w, "  %s  %s  %s  %s\n", a.Time.Local().Format("2006-01-02 15:04:05"), host,
			strings.Join(a.Rcpts, ","), oneLineCut(a.Reply, 300))
	}
	return nil
}

func cmdQueueRetry(e *Env) error {
	id := e.Args[0]
	if id != "all" {
		var err error
		if id, err = store.ParseQueueID(id); err != nil {
			return err
		}
	}
	n, err := e.St.RetryQueue(id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "%d message(s) due now\n", n)
	return nil
}

func cmdQueueDelete(e *Env) error {
	id, err := store.ParseQueueID(e.Args[0])
	if err != nil {
		return err
	}
	if err := e.St.DeleteQueue(id); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "deleted %s (no bounce is sent)\n", id)
	return nil
}

func cmdQueueCaptured(e *Env) error {
	login := ""
	if len(e.Args) > 0 {
		login = canonicalLogin(e.Args[0])
	}
	if _, clear := e.Flags["clear"]; clear {
		n, err := e.St.ClearCaptured(login)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "removed %d captured message(s)\n", n)
		return nil
	}
	qs, err := e.St.ListCaptured(login)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLOGIN\tFROM\tTO\tSUBJECT\tTIME")
	for _, q := range qs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.Login, orNull(q.From), rcptSummary(q),
			oneLineCut(q.Subject, 50), q.Created.Local().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

// canonicalLogin maps a login as typed to the form stored with captured
// mail: an address or a domain, canonical; anything else as given.
func canonicalLogin(s string) string {
	if strings.Contains(s, "@") {
		if a, err := store.NormalizeAddress(s); err == nil {
			return a
		}
		return s
	}
	if d, err := store.DomainLogin(s); err == nil {
		return d
	}
	return s
}
