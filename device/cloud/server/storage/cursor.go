package storage

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cursor is a position in a document list's order (DocPage): Created
// descending, then PointID and ID descending. Its String is DocPage.Next.
type Cursor struct {
	Created     time.Time
	PointID, ID string
}

// CursorOf is d's position in the list.
func CursorOf(d *Document) Cursor {
	return Cursor{Created: d.CreatedAt(), PointID: d.PointID, ID: d.ID}
}

// Before says whether a comes before b in the list.
func (a Cursor) Before(b Cursor) bool {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c > 0
	}
	if a.PointID != b.PointID {
		return a.PointID > b.PointID
	}
	return a.ID > b.ID
}

func (c Cursor) String() string {
	raw := strconv.FormatInt(c.Created.UnixNano(), 10) + "\x00" + c.PointID + "\x00" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseCursor reads a DocPage.Next back.
func ParseCursor(s string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, fmt.Errorf("cursor %q: %w", s, err)
	}
	parts := strings.SplitN(string(raw), "\x00", 3)
	if len(parts) != 3 {
		return Cursor{}, fmt.Errorf("cursor %q: not a list's", s)
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("cursor %q: %w", s, err)
	}
	return Cursor{Created: time.Unix(0, n).UTC(), PointID: parts[1], ID: parts[2]}, nil
}
