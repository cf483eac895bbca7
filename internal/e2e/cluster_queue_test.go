package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
)

// TestClusterQueueRaceExactlyOnce: messages to a remote domain are
// queued on both nodes while the remote MX turns every recipient away
// (451); when it accepts again, both nodes' queues find the same entries
// due at once and race for them. The MX gets each message exactly once,
// both nodes deliver a share, and the queue ends empty.
func TestClusterQueueRaceExactlyOnce(t *testing.T) {
	const n = 60
	rcv := mailtest.StartReceiver(t, nil)
	var open atomic.Bool
	rcv.OnRcpt = func(string) error {
		if !open.Load() {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "not yet"}
		}
		return nil
	}
	rcv.OnData = func(int, *mailtest.Received) error {
		time.Sleep(5 * time.Millisecond) // a delivery takes a moment: the race window
		return nil
	}
	d := mailtest.StartDNS(t)
	d.Add(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1")
	env := []string{"AUTHSMTP_TEST_DELIVERY_PORT=" + strconv.Itoa(rcv.Port)}
	c := newPGCluster(t, 2, env, append([]string{"--dns", d.Addr, "--retry-schedule", "1s", "--queue-lease", "10s"}, loadFlags...)...)

	// Half on each node, one connection each (a login per message would
	// spend the time on password hashing).
	var conns [2]*gosmtp.Client
	for i := range conns {
		sc, err := loadDial(c.nodes[i].addr("submission"))
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		conns[i] = sc
	}
	for i := range n {
		msg := fmt.Sprintf("From: %s\r\nTo: bob@remote.test\r\nSubject: race-%d\r\n\r\nbody %d\r\n", clUser, i, i)
		if err := conns[i%2].SendMail(clUser, []string{"bob@remote.test"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("message %d on node %d: %v", i, i%2+1, err)
		}
	}
	open.Store(true)
	opened := time.Now()

	subjectRe := regexp.MustCompile(`(?m)^Subject: (race-\d+)\r$`)
	count := func() (map[string]int, map[string]int) {
		bySubject, byNode := map[string]int{}, map[string]int{}
		for _, m := range rcv.Messages() {
			if sm := subjectRe.FindSubmatch(m.Data); sm != nil {
				bySubject[string(sm[1])]++
			}
			byNode[m.Helo]++
		}
		return bySubject, byNode
	}
	deadline := opened.Add(testutil.Scaled(30 * time.Second))
	for {
		if got, _ := count(); len(got) == n {
			break
		}
		if time.Now().After(deadline) {
			got, _ := count()
			t.Fatalf("%d of %d messages delivered %v after the MX opened:\n%s\n%s", len(got), n, time.Since(opened),
				c.nodes[0].logs(), c.nodes[1].logs())
		}
		select {
		case <-rcv.Wait():
		case <-time.After(100 * time.Millisecond):
		}
	}
	took := time.Since(opened)
	// Anything sent twice would arrive within a retry or two.
	time.Sleep(3 * time.Second)
	bySubject, byNode := count()
	for s, k := range bySubject {
		if k != 1 {
			t.Errorf("%s delivered %d times", s, k)
		}
	}
	if total := len(rcv.Messages()); total != n {
		t.Errorf("the MX got %d messages, want %d", total, n)
	}
	for i := range 2 {
		if h := fmt.Sprintf("node%d.cluster.test", i+1); byNode[h] == 0 {
			t.Errorf("node %d delivered none: no race (deliveries by node %v)", i+1, byNode)
		}
	}
	t.Logf("%d messages delivered exactly once %v after the MX opened; by node: %v", len(bySubject), took.Round(time.Millisecond), byNode)
	for i := range 2 {
		if _, out, _ := c.admin(i, "", "queue", "list"); regexp.MustCompile(`remote\.test`).MatchString(out) {
			t.Errorf("node %d still lists queued mail after delivery:\n%s", i+1, out)
		}
	}
}
