// Package goimapfix holds every place where authsmtp works around
// go-imap v2 (github.com/emersion/go-imap/v2, v2.0.0-beta.8), so that an
// upgrade has one package to check. Each piece says what go-imap does
// and why we need otherwise:
//
//   - ReadCommand, ReadLine (prelogin.go): the not-authenticated state is
//     ours, because go-imap's decoder, refusing a literal before login,
//     goes on to read the next line instead of answering, and lets bytes
//     pipelined after STARTTLS reach the TLS handshake. A strict reader
//     with small bounds parses the few commands allowed before login.
//   - Conn and Listener (conn.go): the hand-off. A connection we logged in
//     is given to go-imap's Serve through Listener, and go-imap starts it
//     as PREAUTH; Conn swallows go-imap's greeting (the client already
//     had ours), batches go-imap's many small writes, and ends a session
//     whose login was revoked at its next command.
//   - Filter (filter.go): the command filter in front of go-imap. It
//     answers ID after login, and refuses mailbox names go-imap cannot
//     decode or would mis-decode, before go-imap sees them.
//   - IsCloseExpunge (expunge.go): go-imap tells CLOSE's expunge from
//     EXPUNGE only by an unexported field of ExpungeWriter, read by
//     reflection.
//   - Wire (wire.go): FETCH answers of UID, FLAGS, INTERNALDATE,
//     RFC822.SIZE and ENVELOPE written byte for byte as go-imap's
//     FetchResponseWriter would, into one buffer: go-imap allocates for
//     every string and flushes once per message. TestWireMatchesGoIMAP
//     and FuzzWireEnvelope compare the two on go-imap itself.
//
// TestGoIMAPAssumptions checks what these rely on in go-imap itself (the
// reflected field, the greeting Conn swallows, the hand-off) and fails
// when an upgrade changes it; imap's own tests check the behaviour end
// to end. It imports go-imap and the standard library only.
package goimapfix
