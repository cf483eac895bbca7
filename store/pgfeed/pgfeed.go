// Package pgfeed is store.Feed on PostgreSQL's LISTEN/NOTIFY (it does not
// import the store, which opens it for a postgres:// --store): the nodes
// that share one PostgreSQL database tell each other about committed
// changes (new mail, flags, expunges, revoked logins) through one channel.
//
// NOTIFY is delivered to every session listening on the channel, the
// sender's included, after the sending transaction commits; a payload
// holds up to 8000 bytes (the store keeps under store.MaxFeedPayload).
// Nothing is kept for a listener that is not connected: after every
// (re)connection Listen calls fn(nil), and the store has its sessions
// reload.
package pgfeed

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
)

// Channel is the NOTIFY channel the nodes share.
const Channel = "authsmtp_changes"

// Feed publishes over a small pool and listens on a connection of its own.
type Feed struct {
	url  string
	pool *pgxpool.Pool
	log  *slog.Logger
	// ReconnectDelay is the wait before listening again after the
	// connection was lost (default 1 s).
	ReconnectDelay time.Duration
}

// New makes a feed for the database at url (any libpq URL or key=value
// string). It connects lazily: a database that is down now is not an
// error, Publish fails and Listen retries until it comes back.
func New(url string, log *slog.Logger) (*Feed, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("reading the PostgreSQL address: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Feed{url: url, pool: pool, log: log, ReconnectDelay: time.Second}, nil
}

// Close closes the publishing connections (Listen ends with its ctx).
func (f *Feed) Close() { f.pool.Close() }

// Publish sends payload to every node listening.
func (f *Feed) Publish(ctx context.Context, payload []byte) error {
	_, err := f.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, string(payload))
	return err
}

// Listen calls fn for every payload until ctx ends, reconnecting after
// ReconnectDelay when the connection is lost; fn(nil) after each connect.
func (f *Feed) Listen(ctx context.Context, fn func(payload []byte)) error {
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, f.url) },
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				f.log.Warn("listening for changes from the other nodes", "err", err)
			}
		},
		ReconnectDelay: f.ReconnectDelay,
	}
	l.Handle(Channel, handler{fn})
	return l.Listen(ctx)
}

// handler hands payloads to fn; HandleBacklog runs after each LISTEN.
type handler struct{ fn func([]byte) }

func (h handler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	h.fn([]byte(n.Payload))
	return nil
}

func (h handler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.fn(nil)
	return nil
}
