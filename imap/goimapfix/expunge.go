package goimapfix

import (
	"reflect"

	"github.com/emersion/go-imap/v2/imapserver"
)

// IsCloseExpunge tells CLOSE's expunge from EXPUNGE: go-imap gives CLOSE
// an ExpungeWriter without a connection (it must not write EXPUNGE
// responses), and says so nowhere else. The field is unexported, hence
// reflection; TestGoIMAPAssumptions fails if go-imap renames or retypes
// it, and imap's TestMessageCommands if the behaviour changes.
func IsCloseExpunge(w *imapserver.ExpungeWriter) bool {
	f := reflect.ValueOf(w).Elem().FieldByName(expungeConnField)
	return f.IsValid() && f.Kind() == reflect.Pointer && f.IsNil()
}

// expungeConnField is the unexported field of imapserver.ExpungeWriter
// that is nil for CLOSE.
const expungeConnField = "conn"
