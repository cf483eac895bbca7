// Package storetest is the conformance suite every store backend must
// pass: Run takes a constructor and checks the behaviour the protocol
// packages rely on (domains, users and logins; aliases and routing;
// mailboxes with UIDVALIDITY, increasing UIDs, flags and modification
// sequences, also under concurrent writers; expunge, copy and move;
// bodies and their cached parse; accepted messages, the delivery contract
// and its duplicate-suppression markers; the outbound queue and its
// timelines; web sessions and their revocation; the login throttle and
// send caps; DKIM keys; aliases and mail rules; certificate storage and
// its locks; export and import; the outbound TLS results for TLS
// reports; what only one of several simultaneous callers may win). It runs against the bbolt store now; a
// second backend (the same *store.Store over another storage layer) runs
// the same function.
//
// It imports only the store, store/mailio, store/reports and the
// standard library.
package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// Backend is the store under test. A second backend is the same
// *store.Store over another storage layer, so the suite can reach every
// part of it: the methods, the throttle, the send caps and the events.
type Backend = *store.Store

const (
	domain = "conformance.test"
	user   = "ann@conformance.test"
	pw     = "Conformance-Pass-2026"
)

// Run runs the suite; open returns a new, empty store for one subtest.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"DomainsUsersAuth", testAccounts},
		{"DomainLoginAndSwitches", testDomainLogin},
		{"AliasesAndRoutes", testAliases},
		{"RulesCatchAllForwardVacation", testRules},
		{"SendAsAliases", testSendAs},
		{"Mailboxes", testMailboxes},
		{"UIDValidityAfterRecreate", testUIDValidity},
		{"ConcurrentUIDs", testConcurrentUIDs},
		{"FlagsAndModSeq", testFlagsModSeq},
		{"Expunge", testExpunge},
		{"CopyMoveRename", testCopyMove},
		{"BodiesAndFetch", testBodies},
		{"Events", testEvents},
		{"AcceptAndQueue", testAcceptQueue},
		{"QueueTimeline", testQueueTimeline},
		{"QueueCaptured", testCaptured},
		{"QueueLeases", testQueueLeases},
		{"DeliveryContract", testDelivery},
		{"DedupMarkers", testDedup},
		{"WebSessions", testSessions},
		{"RevocationOnPasswordChange", testRevocation},
		{"ThrottleAndSendCaps", testThrottleCaps},
		{"DKIMKeys", testDKIM},
		{"Certs", testCerts},
		{"CertLocks", testCertLocks},
		{"ExportImport", testExportImport},
		{"TLSReportCounts", testTLSResults},
		{"ReportsReceived", testReportsIn},
		{"DMARCEvaluations", testDMARCEvals},
		{"ContendedOnce", testContended},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := open(t)
			c.fn(t, b)
		})
	}
}

// withUser makes the suite's domain and user.
func withUser(t *testing.T, b Backend) {
	t.Helper()
	if _, err := b.AddDomain(domain); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddUser(user, pw); err != nil {
		t.Fatal(err)
	}
}

func testAccounts(t *testing.T, b Backend) {
	withUser(t, b)
	if _, err := b.AddDomain(domain); err == nil {
		t.Error("a domain was added twice")
	}
	if _, err := b.GetDomain(domain); err != nil {
		t.Errorf("GetDomain: %v", err)
	}
	if _, err := b.AddUser(user, pw); err == nil {
		t.Error("a user was added twice")
	}
	p, err := b.Authenticate(user, pw)
	if err != nil || p.Kind != store.KindUser || p.Address != user || p.Domain != domain {
		t.Errorf("Authenticate with the right password: %+v, %v", p, err)
	}
	if _, err := b.Authenticate(user, pw+"x"); err == nil {
		t.Error("a wrong password logged in")
	}
	us, err := b.ListUsers(domain)
	if err != nil || len(us) != 1 || us[0].Address != user {
		t.Errorf("ListUsers: %+v, %v", us, err)
	}
	if err := b.RemoveUser(user); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetUser(user); err == nil {
		t.Error("a removed user is still there")
	}
	if _, err := b.Authenticate(user, pw); err == nil {
		t.Error("a removed user still logs in")
	}
}

func testAliases(t *testing.T, b Backend) {
	withUser(t, b)
	const alias = "sales@conformance.test"
	if _, err := b.AddAlias(alias, []string{user}, ""); err != nil {
		t.Fatal(err)
	}
	r, err := b.Route(alias)
	if err != nil || len(r.Local) != 1 || r.Local[0].Address != user {
		t.Fatalf("Route(alias): %+v, %v", r, err)
	}
	as, err := b.ListAliases(domain)
	if err != nil || len(as) != 1 || as[0].Address != alias {
		t.Errorf("ListAliases: %+v, %v", as, err)
	}
	if _, err := b.Route("nobody@conformance.test"); err == nil {
		t.Error("an unknown address routes")
	}
	if err := b.RemoveAlias(alias); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Route(alias); err == nil {
		t.Error("a removed alias still routes")
	}
}

func testMailboxes(t *testing.T, b Backend) {
	withUser(t, b)
	mb, err := b.CreateMailbox(user, "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	if mb.UIDValidity == 0 {
		t.Error("UIDVALIDITY is 0")
	}
	var last uint32
	for i := 0; i < 3; i++ {
		m, err := b.Append(user, "Projects", []byte("Subject: m\r\n\r\nbody\r\n"), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if m.UID <= last {
			t.Fatalf("UID %d after %d: UIDs must increase", m.UID, last)
		}
		last = m.UID
	}
	got, err := b.GetMailbox(user, "Projects")
	if err != nil {
		t.Fatal(err)
	}
	if got.UIDValidity != mb.UIDValidity || got.UIDNext <= last || got.Messages != 3 {
		t.Errorf("after 3 appends: %+v (UIDVALIDITY was %d, last UID %d)", got, mb.UIDValidity, last)
	}
	before := got.HighestModSeq
	ms, err := b.SetFlags(user, "Projects", []uint32{last}, store.FlagsAdd, []string{`\Seen`})
	if err != nil || len(ms) != 1 || !ms[0].HasFlag(`\Seen`) || ms[0].ModSeq <= before {
		t.Errorf("SetFlags: %+v, %v (modseq before %d)", ms, err, before)
	}
	st, states, err := b.MailboxState(user, "Projects")
	if err != nil || len(states) != 3 || !states[2].Seen || states[0].Seen || st.HighestModSeq <= before {
		t.Errorf("MailboxState: %+v %+v %v", st, states, err)
	}
	list, err := b.ListMailboxes(user)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	if !slices.Contains(names, "INBOX") || !slices.Contains(names, "Projects") {
		t.Errorf("ListMailboxes: %v", names)
	}
	if _, err := b.CreateMailbox(user, "Projects", ""); err == nil {
		t.Error("a mailbox was created twice")
	}
}

func testAcceptQueue(t *testing.T, b Backend) {
	withUser(t, b)
	r, err := b.Route(user)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("From: " + user + "\r\nSubject: conformance\r\n\r\nhello\r\n")
	if _, err := b.Accept(&store.Incoming{From: user, Login: user, Local: r.Local, Remote: []string{"bob@far.example"}, Body: body, Subject: "conformance"}); err != nil {
		t.Fatal(err)
	}
	inbox, err := b.GetMailbox(user, "INBOX")
	if err != nil || inbox.Messages != 1 {
		t.Errorf("INBOX after Accept: %+v, %v", inbox, err)
	}
	qs, err := b.ListQueue()
	if err != nil || len(qs) != 1 || len(qs[0].Rcpts) != 1 || qs[0].Rcpts[0].Address != "bob@far.example" || qs[0].From != user {
		t.Fatalf("ListQueue: %+v, %v", qs, err)
	}
	q, err := b.GetQueue(qs[0].ID)
	if err != nil || q.ID != qs[0].ID || q.Size == 0 {
		t.Errorf("GetQueue: %+v, %v", q, err)
	}
	if err := b.DeleteQueue(q.ID); err != nil {
		t.Fatal(err)
	}
	if qs, err := b.ListQueue(); err != nil || len(qs) != 0 {
		t.Errorf("queue after delete: %+v, %v", qs, err)
	}
}

func testCerts(t *testing.T, b Backend) {
	if err := b.CertPut("certmagic/a/cert", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if v, err := b.CertGet("certmagic/a/cert"); err != nil || string(v) != "one" {
		t.Errorf("CertGet: %q, %v", v, err)
	}
	if keys, err := b.CertList("certmagic/a"); err != nil || !slices.Contains(keys, "certmagic/a/cert") {
		t.Errorf("CertList: %v, %v", keys, err)
	}
	if err := b.CertDelete("certmagic/a/cert"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CertGet("certmagic/a/cert"); err == nil {
		t.Error("a deleted key is still there")
	}
	ok, err := b.CertTryLock("order", "node-1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if ok, err := b.CertTryLock("order", "node-2", time.Minute); err != nil || ok {
		t.Errorf("a held lock was taken by another owner: %v %v", ok, err)
	}
	if err := b.CertUnlock("order", "node-1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.CertTryLock("order", "node-2", time.Minute); err != nil || !ok {
		t.Errorf("a released lock could not be taken: %v %v", ok, err)
	}
}
