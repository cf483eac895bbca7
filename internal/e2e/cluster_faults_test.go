package e2e

import (
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
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

// TestClusterPostgresRestartUnderSubmissionLoad: PostgreSQL restarts
// while clients submit without pause to two nodes. While it is away the
// nodes answer 4xx (never 5xx: the outage is transient) and stay up; they
// accept mail again by themselves once it is back; every message that got
// a 250 is in the mailbox exactly once and whole.
func TestClusterPostgresRestartUnderSubmissionLoad(t *testing.T) {
	c := newPGCluster(t, 2, nil, loadFlags...)
	load := startLoad()
	t.Cleanup(func() {
		select {
		case <-load.stop:
		default:
			load.halt()
		}
	})
	for i, name := range []string{"n1a", "n1b", "n2a", "n2b"} {
		node := c.nodes[i/2]
		load.client(name, func() string { return node.addr("submission") })
	}
	start := time.Now()
	waitAcks := func(after time.Time, n int, within time.Duration, what string) {
		t.Helper()
		deadline := time.Now().Add(testutil.Scaled(within))
		for load.count("n1", "250", after) < n || load.count("n2", "250", after) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: node 1 acknowledged %d, node 2 %d, want %d each: %s\n%s\n%s", what,
					load.count("n1", "250", after), load.count("n2", "250", after), n,
					tally(load.snapshot()), c.nodes[0].logs(), c.nodes[1].logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitAcks(start, 10, 20*time.Second, "before the restart")

	down := time.Now()
	if err := pgtest.Shared(t).Restart(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	waitAcks(up, 5, 45*time.Second, "after the restart")
	load.halt()

	var during []reply
	resumed := map[string]time.Duration{}
	for _, r := range load.snapshot() {
		if r.at.After(down) && r.at.Before(up) {
			during = append(during, r)
		}
		if r.code[0] == '5' {
			t.Errorf("%s on %s at %s (database down %s–%s): %v", r.code, r.client, r.at.Format("15:04:05.000"),
				down.Format("15:04:05.000"), up.Format("15:04:05.000"), r.err)
		}
		if node := "node " + r.client[1:2]; r.code == "250" && r.at.After(up) && resumed[node] == 0 {
			resumed[node] = r.at.Sub(up)
		}
	}
	tempfails := 0
	for _, r := range during {
		if r.code[0] == '4' {
			tempfails++
		}
	}
	if tempfails == 0 {
		t.Errorf("no 4xx while the database was down (%v): %s", up.Sub(down), tally(during))
	}
	for i, p := range c.nodes {
		if p.cmd.ProcessState != nil {
			t.Fatalf("node %d exited:\n%s", i+1, p.logs())
		}
	}
	acked := load.acked()
	found := checkMailbox(t, c.nodes[1].addr("imap"), acked)
	sent, committed := load.unacked(found)
	t.Logf("database down %v; replies meanwhile: %s; first 250 after it was back: %v; all replies: %s; "+
		"%d acknowledged, %d in the INBOX; %d sent without a 250, %d of them committed anyway",
		up.Sub(down).Round(time.Millisecond), tally(during), resumed, tally(load.snapshot()),
		len(acked), len(found), sent, committed)
}
