package webui

import (
	"context"
	"io"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// Store is what the web UI needs of the store, in three parts: logins and
// web sessions, the admin's accounts and queue, and a user's mail.
// *store.Store implements it (guarded in the tests); the web UI sees
// nothing else of it (no bbolt, no transactions).
type Store interface {
	SessionStore
	AdminStore
	MailStore
}

// SessionStore is the one login path, the send rule and web sessions.
type SessionStore interface {
	Login(ctx context.Context, protocol, ip, login, password string) (store.Principal, error)
	NewSession(p store.Principal, ttl time.Duration) (store.Session, error)
	GetSession(id string) (store.Session, bool)
	DeleteSession(id string) error
	PruneSessions(now time.Time) (int, error)
	CheckWebmail(p store.Principal) error
	MaySendAs(p store.Principal, address string) bool
	SendAsAddresses(p store.Principal) []string
	SetUserPassword(address, pw string) error
}

// AdminStore is what the admin panel manages and shows: domains, users,
// aliases and mail rules, the queue, statistics, DMARC and TLS reports,
// and the backup.
type AdminStore interface {
	SetAdminPassword(pw string) error

	ListDomains() ([]store.Domain, error)
	GetDomain(name string) (store.Domain, error)
	AddDomain(name string) (store.Domain, error)
	RemoveDomain(name string) error
	SetDomainPassword(name, pw string) error
	SetDomainSwitch(name, which string, on bool) error
	SetPostmaster(domain, user string) error
	HeldPostmasterMail(domain string) int
	SetCatchAll(domain, user string) error
	SetMTASTSMode(domain, mode string) error

	ListUsers(domain string) ([]store.User, error)
	GetUser(address string) (store.User, error)
	AddUser(address, pw string) (store.User, error)
	RemoveUser(address string) error
	UpdateUser(address string, fn func(*store.User) error) error
	SetForward(address, target string, keep bool) error
	SetVacation(address, text string) error

	ListAliases(domain string) ([]store.Alias, error)
	AddAlias(address string, targets []string, sendAs string) (store.Alias, error)
	RemoveAlias(address string) error

	ListQueue() ([]store.QueueEntry, error)
	GetQueue(id string) (store.QueueEntry, error)
	RetryQueue(id string) (int, error)
	DeleteQueue(id string) error

	Traffic(n int) []store.TrafficHour
	SpamStats(domain string, days int) ([]store.SpamDay, error)
	SummarizeReports(domain string, days int, now time.Time) (store.ReportSummary, error)
	ReportMail(domain string, id uint64) ([]byte, error)
	Ping() error
	Path() string
	Backup(w io.Writer) (int64, error)
}

// MailStore is webmail's view of a user's mailboxes and messages.
type MailStore interface {
	ListMailboxes(address string) ([]store.Mailbox, error)
	GetMailbox(address, name string) (*store.Mailbox, error)
	CreateMailbox(address, name, specialUse string) (*store.Mailbox, error)
	MailboxState(address, mailbox string) (*store.Mailbox, []store.MsgState, error)
	Usage(address string) (used, quota int64, err error)

	Append(address, mailbox string, body []byte, flags []string, date time.Time) (*store.Message, error)
	GetMessage(address, mailbox string, uid uint32) (*store.Message, []byte, error)
	Body(id uint64) ([]byte, error)
	FetchMessages(address, mailbox string, uids []uint32, withBody bool, fn func(*store.FetchItem) error) error
	SearchMessages(address, mailbox string, uids []uint32, withBody bool, match func(*store.SearchItem) bool) ([]uint32, error)
	SetFlags(address, mailbox string, uids []uint32, op store.FlagOp, flags []string) ([]store.Message, error)
	Move(address, mailbox string, uids []uint32, dest string) (*store.CopyResult, error)
	Expunge(address, mailbox string, uids []uint32) ([]uint32, error)
}
