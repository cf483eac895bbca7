package e2e

import (
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// TestClusterKill9UnderSubmissionLoad: clients submit without pause to
// nodes 1 and 2; node 1 is killed (-9) in the middle. Every message that
// got a 250 on either node is in the mailbox exactly once and whole (read
// over IMAP on node 3); none is there twice; node 2 answers every
// transaction with a 250 before, during and after the kill.
func TestClusterKill9UnderSubmissionLoad(t *testing.T) {
	c := newPGCluster(t, 3, nil, loadFlags...)
	load := startLoad()
	t.Cleanup(func() {
		select {
		case <-load.stop:
		default:
			load.halt()
		}
	})
	for _, name := range []string{"n1a", "n1b", "n1c"} {
		load.client(name, func() string { return c.nodes[0].addr("submission") })
	}
	for _, name := range []string{"n2a", "n2b"} {
		load.client(name, func() string { return c.nodes[1].addr("submission") })
	}

	// Kill node 1 once it has acknowledged a good number: its three
	// clients keep transactions in flight all the time.
	start := time.Now()
	deadline := start.Add(testutil.Scaled(20 * time.Second))
	for load.count("n1", "250", start) < 40 {
		if time.Now().After(deadline) {
			t.Fatalf("node 1 acknowledged only %d messages in %v: %s\n%s", load.count("n1", "250", start),
				time.Since(start), tally(load.snapshot()), c.nodes[0].logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.nodes[0].kill()
	killed := time.Now()

	// Node 2 carries on: it acknowledges more after the kill.
	deadline = killed.Add(testutil.Scaled(15 * time.Second))
	for load.count("n2", "250", killed) < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("node 2 acknowledged only %d messages after node 1 died: %s\n%s", load.count("n2", "250", killed),
				tally(load.snapshot()), c.nodes[1].logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	load.halt()

	var n1, n2 []reply
	for _, r := range load.snapshot() {
		if r.client[:2] == "n1" {
			n1 = append(n1, r)
		} else {
			n2 = append(n2, r)
		}
	}
	for _, r := range n2 {
		if r.code != "250" {
			t.Errorf("node 2, %s at %s (node 1 killed at %s): %v", r.subject, r.at.Format("15:04:05.000"), killed.Format("15:04:05.000"), r.err)
		}
	}
	acked := load.acked()
	found := checkMailbox(t, c.nodes[2].addr("imap"), acked)
	inFlight, committed := load.unacked(found)
	t.Logf("node 1 (killed after %v): %s; node 2: %s; %d acknowledged, %d in the INBOX (read on node 3); "+
		"%d in flight on node 1 when it died, %d of them committed anyway",
		killed.Sub(start).Round(time.Millisecond), tally(n1), tally(n2), len(acked), len(found), inFlight, committed)
	if c.nodes[1].cmd.ProcessState != nil || c.nodes[2].cmd.ProcessState != nil {
		t.Fatalf("a surviving node exited:\n%s\n%s", c.nodes[1].logs(), c.nodes[2].logs())
	}
}
