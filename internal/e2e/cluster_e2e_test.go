package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
)

// Several real nodes on one real PostgreSQL database (README: "More than
// one node").

const (
	clUser   = "ann@cluster.test"
	clPW     = "Ann-pass-k9W!q-cl"
	clDomain = "cluster.test"
)

// pgCluster is a database and the nodes running on it.
type pgCluster struct {
	t     *testing.T
	bin   string
	url   string
	dirs  []string
	nodes []*proc
}

// newPGCluster makes a database with the test domain and user, and starts
// n nodes on it with IMAP on, each with its own --data and --hostname.
func newPGCluster(t *testing.T, n int, env []string, extra ...string) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: authsmtpBinary(t), url: pgtest.URL(t)}
	setup := t.TempDir()
	for _, s := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", clDomain}},
		{"Dom-pass-x7Q!z-cl\n", []string{"domain", "password", clDomain}},
		{"", []string{"domain", "enable", clDomain, "smtp"}},
		{clPW + "\n", []string{"user", "add", clUser}},
	} {
		// No node runs yet: straight to the database.
		if code, _, errOut := cli(t, setup, s.stdin, append(s.args, "--store", c.url)...); code != 0 {
			t.Fatalf("%v: %s", s.args, errOut)
		}
	}
	for i := range n {
		dir := t.TempDir()
		args := append([]string{"--store", c.url, "--hostname", fmt.Sprintf("node%d.cluster.test", i+1),
			"--imap", "127.0.0.1:0"}, extra...)
		c.dirs = append(c.dirs, dir)
		c.nodes = append(c.nodes, startServeEnv(t, c.bin, dir, env, args...))
	}
	return c
}

// admin runs an admin command through node i's control socket.
func (c *pgCluster) admin(i int, stdin string, args ...string) (int, string, string) {
	return cli(c.t, c.dirs[i], stdin, append(args, "--store", c.url)...)
}

// imapLogin logs in to node i over IMAP (STARTTLS) with the given handler.
func imapLogin(t *testing.T, addr string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}, UnilateralDataHandler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(clUser, clPW).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func clMsg(subject string) string {
	return "From: " + clUser + "\r\nTo: " + clUser + "\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
}

// TestClusterIdleAcrossNodes: mail submitted on node 1 wakes an IMAP IDLE
// on node 2 within a second; after PostgreSQL restarts, the nodes answer
// again by themselves (4xx meanwhile, no crash) and IDLE still hears.
func TestClusterIdleAcrossNodes(t *testing.T) {
	c := newPGCluster(t, 2, nil)
	// The handler never blocks (it runs on the client's reader): it keeps
	// the latest EXISTS and signals.
	var latest atomic.Uint32
	exists := make(chan struct{}, 1)
	ic := imapLogin(t, c.nodes[1].addr("imap"), &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			latest.Store(*d.NumMessages)
			select {
			case exists <- struct{}{}:
			default:
			}
		}
	}})
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := ic.Idle()
	if err != nil {
		t.Fatal(err)
	}
	waitExists := func(want uint32) {
		t.Helper()
		sent := time.Now()
		for {
			select {
			case <-exists:
				n := latest.Load()
				if n < want {
					continue
				}
				if d := time.Since(sent); d > time.Second {
					t.Fatalf("IDLE on node 2 woke %s after the 250 on node 1", d)
				}
				t.Logf("EXISTS %d on node 2 %v after the 250 on node 1", n, time.Since(sent))
				return
			case <-time.After(time.Second):
				t.Fatalf("IDLE on node 2 did not see mail submitted on node 1 within a second")
			}
		}
	}
	if err := submit(c.nodes[0].addr("submission"), clUser, clPW, clUser, []string{clUser}, clMsg("one")); err != nil {
		t.Fatalf("submit on node 1: %v", err)
	}
	waitExists(1)

	// PostgreSQL restarts under the nodes while a client keeps submitting
	// to node 1: every reply is a 250 or a 4xx (try again), never a 5xx.
	stop := make(chan struct{})
	var acked atomic.Uint32 // 250s while the database restarts
	var replies sync.Map
	var during sync.WaitGroup
	during.Add(1)
	go func() {
		defer during.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := submit(c.nodes[0].addr("submission"), clUser, clPW, clUser, []string{clUser}, clMsg("during restart"))
			var se *gosmtp.SMTPError
			switch {
			case err == nil:
				acked.Add(1)
				replies.Store("250", true)
			case errors.As(err, &se):
				replies.Store(strconv.Itoa(se.Code), true)
			default:
				replies.Store("no reply: "+err.Error(), true)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := pgtest.Shared(t).Restart(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	during.Wait()
	replies.Range(func(k, _ any) bool {
		t.Logf("reply while the database restarted: %v", k)
		if code := k.(string); code[0] == '5' {
			t.Errorf("a %s reply while the database restarted, want 4xx", code)
		}
		return true
	})
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		err := submit(c.nodes[0].addr("submission"), clUser, clPW, clUser, []string{clUser}, clMsg("after restart"))
		if err == nil {
			break
		}
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) || se.Code < 400 || se.Code >= 500 {
			t.Fatalf("while the database comes back: %v, want a 4xx reply", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 does not accept mail 60s after the database restart: %v\n%s", err, c.nodes[0].logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, p := range c.nodes {
		if p.cmd.ProcessState != nil {
			t.Fatalf("node %d exited after the database restart:\n%s", i+1, p.logs())
		}
	}
	// Node 2's listener reconnected: its IDLE hears the next message, the
	// INBOX then holding the first, those acknowledged meanwhile, the
	// first after the restart and this one (or more: a message committed
	// while its 250 was lost).
	if err := submit(c.nodes[0].addr("submission"), clUser, clPW, clUser, []string{clUser}, clMsg("idle after restart")); err != nil {
		t.Fatalf("submit on node 1 after the restart: %v", err)
	}
	waitExists(acked.Load() + 3)
	idle.Close()
	idle.Wait()
}

// TestClusterRevocation: a password changed through node 2's control
// socket ends the IMAP and SMTP sessions open on node 1.
func TestClusterRevocation(t *testing.T) {
	c := newPGCluster(t, 2, nil)
	ic := imapLogin(t, c.nodes[0].addr("imap"), nil)
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sc, err := gosmtp.DialStartTLS(c.nodes[0].addr("submission"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Auth(sasl.NewPlainClient("", clUser, clPW)); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := c.admin(1, "New-pass-r5T!m-cl\n", "user", "password", clUser); code != 0 {
		t.Fatalf("user password on node 2: %s", errOut)
	}
	deadline := time.Now().Add(time.Second)
	for ic.Noop().Wait() == nil {
		if time.Now().After(deadline) {
			t.Fatal("node 1's IMAP session survived a password change on node 2")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sc.Mail(clUser, nil); err == nil {
		t.Fatal("node 1's SMTP session may still send after a password change on node 2")
	}
}

// TestClusterLimits: the send cap and the login throttle count on both
// nodes together.
func TestClusterLimits(t *testing.T) {
	c := newPGCluster(t, 2, nil)
	if code, _, errOut := c.admin(0, "", "user", "limit", clUser, "per-hour=3"); code != 0 {
		t.Fatalf("user limit: %s", errOut)
	}
	for i, node := range []int{0, 1, 0} {
		if err := submit(c.nodes[node].addr("submission"), clUser, clPW, clUser, []string{clUser}, clMsg(fmt.Sprint("cap ", i))); err != nil {
			t.Fatalf("message %d on node %d: %v", i+1, node+1, err)
		}
	}
	err := submit(c.nodes[1].addr("submission"), clUser, clPW, clUser, []string{clUser}, clMsg("over"))
	if err == nil || !strings.Contains(err.Error(), "451") || !strings.Contains(err.Error(), "3 messages per hour") {
		t.Fatalf("4th message of the hour on node 2: %v, want 451 per-hour cap", err)
	}

	// Ten failed logins on node 1 at once block the login on node 2.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc, err := gosmtp.DialStartTLS(c.nodes[0].addr("submission"), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer sc.Close()
			sc.Auth(sasl.NewPlainClient("", clUser, "wrong-password-1"))
		}()
	}
	wg.Wait()
	sc, err := gosmtp.DialStartTLS(c.nodes[1].addr("submission"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	err = sc.Auth(sasl.NewPlainClient("", clUser, clPW))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 454 {
		t.Fatalf("right password on node 2 after ten failures on node 1: %v, want 454 (throttled)", err)
	}
}

// TestClusterQueueTakeover: the node delivering a message is killed (-9)
// in the middle of the DATA; the other node takes the entry over once the
// lease lapses, and the receiving MX gets the message exactly once. (Two
// live nodes racing for many entries: TestClusterQueueRaceExactlyOnce.)
func TestClusterQueueTakeover(t *testing.T) {
	rcv := mailtest.StartReceiver(t, nil)
	inData := make(chan string, 1)
	release := make(chan struct{})
	rcv.OnData = func(n int, r *mailtest.Received) error {
		if n == 1 {
			inData <- r.Helo
			<-release
			return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "lost the sender"}
		}
		return nil
	}
	d := mailtest.StartDNS(t)
	d.Add(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1")
	env := []string{"AUTHSMTP_TEST_DELIVERY_PORT=" + strconv.Itoa(rcv.Port)}
	const lease = 2 * time.Second
	c := newPGCluster(t, 2, env, "--dns", d.Addr, "--queue-lease", lease.String())
	if err := submit(c.nodes[0].addr("submission"), clUser, clPW, clUser, []string{"bob@remote.test"}, "From: "+clUser+"\r\nTo: bob@remote.test\r\nSubject: takeover\r\n\r\nonce\r\n"); err != nil {
		t.Fatal(err)
	}
	var helo string
	select {
	case helo = <-inData:
	case <-time.After(30 * time.Second):
		t.Fatal("no node started delivering")
	}
	dying, other := 0, 1
	if strings.HasPrefix(helo, "node2.") {
		dying, other = 1, 0
	}
	c.nodes[dying].kill()
	killed := time.Now()
	close(release)
	deadline := time.After(30 * time.Second)
	for len(rcv.Messages()) == 0 {
		select {
		case <-rcv.Wait():
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("node %d did not take the entry over:\n%s", other+1, c.nodes[other].logs())
		}
	}
	took := time.Since(killed)
	msgs := rcv.Messages()
	if want := fmt.Sprintf("node%d.cluster.test", other+1); msgs[0].Helo != want {
		t.Fatalf("delivered by %q, want %s", msgs[0].Helo, want)
	}
	t.Logf("node %d killed mid-DATA; node %d delivered %v later (lease %v)", dying+1, other+1, took, lease)
	// The survivor looks again when the lease lapses, not at its next poll.
	if bound := lease + testutil.Scaled(3*time.Second); took > bound {
		t.Errorf("taken over %v after the kill, want within the lease and a moment (%v)", took, bound)
	}
	time.Sleep(2 * lease)
	if n := len(rcv.Messages()); n != 1 {
		t.Fatalf("the MX got %d copies, want exactly one", n)
	}
	_, out, _ := c.admin(other, "", "queue", "list")
	if strings.Contains(out, "remote.test") {
		t.Fatalf("still queued after delivery: %s", out)
	}
}
