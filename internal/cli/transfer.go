package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authsmtp/authsmtp/store/mailio"
)

// transferCommands move a user's mail in (mbox, Maildir) and out (Maildir).
func transferCommands() []Command {
	return []Command{
		{Words: "import", Usage: "ADDRESS PATH   (mbox file, Maildir, or a folder of them)", NArgs: [2]int{2, 2}, Paths: []int{1}, Local: true, NoStore: true, Run: stagedImport},
		{Words: "export", Usage: "ADDRESS DIR   (to Maildir)", NArgs: [2]int{2, 2}, Paths: []int{1}, Local: true, NoStore: true, Run: stagedExport},
		{Words: "import-staged", Usage: "ADDRESS PATH   (used by import)", NArgs: [2]int{2, 2}, Hidden: true, Run: cmdImport},
		{Words: "export-staged", Usage: "ADDRESS DIR   (used by export)", NArgs: [2]int{2, 2}, Hidden: true, Run: cmdExport},
	}
}

// cmdImport reads mbox files and Maildirs into a user's mailboxes.
func cmdImport(e *Env) error {
	bar := newProgressBar(e)
	start := time.Now()
	sum, err := mailio.Import(e.St, e.Args[0], e.Args[1], mailio.Options{Progress: bar.show})
	bar.done()
	if sum != nil {
		printSummary(e.Out, "imported", e.Args[0], sum, time.Since(start))
	}
	return err
}

// cmdExport writes a user's mailboxes to a Maildir++ tree.
func cmdExport(e *Env) error {
	bar := newProgressBar(e)
	start := time.Now()
	sum, err := mailio.Export(e.St, e.Args[0], e.Args[1], bar.show)
	bar.done()
	if sum != nil {
		printSummary(e.Out, "exported", e.Args[0], sum, time.Since(start))
	}
	return err
}

func printSummary(w io.Writer, verb, addr string, sum *mailio.Summary, took time.Duration) {
	fmt.Fprintf(w, "%s %d messages (%s) for %s in %s\n", verb, sum.Messages, humanBytes(sum.Bytes), addr, took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range sum.Folders {
		fmt.Fprintf(tw, "  %s\t%d\n", f.Name, f.Count)
	}
	tw.Flush()
	if sum.Present > 0 {
		fmt.Fprintf(w, "%d messages were already there and were not imported again\n", sum.Present)
	}
	if len(sum.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d bad messages (nothing of them was stored):\n", len(sum.Skipped))
		for _, s := range sum.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", s.Source, s.Reason)
		}
	}
}

// progressBar draws "[#####.....] 120/500 INBOX" on a terminal, at most
// ten times a second; elsewhere it draws nothing.
type progressBar struct {
	w    io.Writer
	on   bool
	last time.Time
	drew bool
}

func newProgressBar(e *Env) *progressBar { return &progressBar{w: e.Out, on: e.TTY} }

func (b *progressBar) show(p mailio.Progress) {
	if !b.on || (time.Since(b.last) < 100*time.Millisecond && p.Done != p.Total) {
		return
	}
	b.last = time.Now()
	const width = 30
	fill := width
	if p.Total > 0 {
		fill = width * p.Done / p.Total
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d %-24.24s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.Done, p.Total, p.Folder)
	if f, ok := b.w.(interface{ Flush() error }); ok {
		f.Flush()
	}
	b.drew = true
}

func (b *progressBar) done() {
	if b.drew {
		fmt.Fprintln(b.w)
	}
}
