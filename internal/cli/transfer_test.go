package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store/mailio"
)

// The progress bar draws on a terminal only, ends at 100% and leaves the
// line it drew finished with a newline.
func TestProgressBar(t *testing.T) {
	var tty bytes.Buffer
	b := newProgressBar(&Env{Out: &tty, TTY: true})
	for i := 1; i <= 50; i++ {
		b.show(mailio.Progress{Folder: "INBOX", Done: i, Total: 50})
	}
	b.done()
	out := tty.String()
	if !strings.HasPrefix(out, "\r[") || !strings.Contains(out, "[##############################] 50/50 INBOX") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("terminal output %q", out)
	}
	if n := strings.Count(out, "\r"); n > 3 {
		t.Errorf("redrawn %d times in a fast loop (want at most a few)", n)
	}
	var pipe bytes.Buffer
	b = newProgressBar(&Env{Out: &pipe, TTY: false})
	b.show(mailio.Progress{Folder: "INBOX", Done: 1, Total: 1})
	b.done()
	if pipe.Len() != 0 {
		t.Fatalf("progress drawn into a pipe: %q", pipe.String())
	}
}
