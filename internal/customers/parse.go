package customers

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/headsup-dev/headsup/internal/match"
)

// maxLineBytes bounds one line of a JSON lines file (and so the memory one
// malformed line can take).
const maxLineBytes = 1 << 20

// utf8BOM is what spreadsheet programs put at the start of a CSV export.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// format is how a file is read, chosen by its extension.
type format int

const (
	formatCSV format = iota + 1
	formatJSONL
)

// allowedColumns are the columns a file may have; anything else is refused.
var allowedColumns = map[string]bool{
	ColCustomerID: true, ColDisplayName: true, ColType: true, ColValue: true,
	ColMemberID: true, ColValidFrom: true,
}

// parse reads a whole customer list; the first bad row refuses it all.
func parse(source string, f format, r io.Reader, link string) ([]match.Row, error) {
	switch f {
	case formatCSV:
		return parseCSV(source, r, link)
	case formatJSONL:
		return parseJSONL(source, r, link)
	}
	return nil, fmt.Errorf("%s: %w: unknown format", source, ErrFormat)
}

// parseCSV reads RFC 4180 CSV whose first record is the header. Column
// names are matched case-insensitively after trimming spaces; columns may
// come in any order; empty lines are skipped.
func parseCSV(source string, r io.Reader, link string) ([]match.Row, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, lineError(source, 1, fmt.Errorf("%w: empty file, want a header line", ErrFormat))
	}
	if err != nil {
		return nil, csvError(source, err)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		switch {
		case !allowedColumns[name]:
			return nil, &RowError{Source: source, Line: 1, Field: "header", Value: h,
				Err: fmt.Errorf("%w: columns are customer_id, display_name, type, value, member_id, valid_from", ErrUnknownField)}
		case col[name] != 0:
			return nil, &RowError{Source: source, Line: 1, Field: "header", Value: h, Err: ErrDuplicateField}
		}
		col[name] = i + 1 // 0 means absent
	}
	for _, name := range requiredColumns {
		if col[name] == 0 {
			return nil, &RowError{Source: source, Line: 1, Field: name, Err: fmt.Errorf("%w: no such column in the header", ErrMissingField)}
		}
	}
	get := func(rec []string, name string) string {
		if i := col[name]; i != 0 {
			return rec[i-1]
		}
		return ""
	}
	var rows []match.Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvError(source, err)
		}
		line, _ := cr.FieldPos(0)
		row, err := buildRow(source, line, rowFields{
			customerID:  get(rec, ColCustomerID),
			displayName: get(rec, ColDisplayName),
			typ:         get(rec, ColType),
			value:       get(rec, ColValue),
			memberID:    get(rec, ColMemberID),
			validFrom:   get(rec, ColValidFrom),
		}, link)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

func csvError(source string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return lineError(source, pe.Line, fmt.Errorf("%w: %v", ErrFormat, pe.Err))
	}
	return fmt.Errorf("%s: %w", source, err)
}

// parseJSONL reads one JSON object per line, with the same keys as the CSV
// columns. Values are strings; customer_id may also be an integer; an
// optional key may be null. Blank lines are skipped.
func parseJSONL(source string, r io.Reader, link string) ([]match.Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var rows []match.Row
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		f, err := decodeObject(source, line, b)
		if err != nil {
			return nil, err
		}
		row, err := buildRow(source, line, f, link)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineError(source, line+1, fmt.Errorf("%w: line longer than %d bytes", ErrFormat, maxLineBytes))
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return rows, nil
}

// decodeObject reads one flat JSON object token by token, so that a key
// given twice is refused rather than silently taking the last value.
func decodeObject(source string, line int, b []byte) (rowFields, error) {
	bad := func(field, value string, err error) (rowFields, error) {
		if field == "" {
			return rowFields{}, lineError(source, line, err)
		}
		return rowFields{}, &RowError{Source: source, Line: line, Field: field, Value: value, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("", "", fmt.Errorf("%w: want one JSON object per line", ErrFormat))
	}
	seen := map[string]bool{}
	var f rowFields
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("", "", fmt.Errorf("%w: %v", ErrFormat, err))
		}
		key, _ := tok.(string)
		if !allowedColumns[key] {
			return bad(key, "", fmt.Errorf("%w: keys are customer_id, display_name, type, value, member_id, valid_from", ErrUnknownField))
		}
		if seen[key] {
			return bad(key, "", ErrDuplicateField)
		}
		seen[key] = true
		tok, err = dec.Token()
		if err != nil {
			return bad(key, "", fmt.Errorf("%w: %v", ErrFormat, err))
		}
		var v string
		switch t := tok.(type) {
		case string:
			v = t
		case nil:
			// null: absent. A required key that is null is reported as
			// missing by buildRow.
		case json.Number:
			if key != ColCustomerID || strings.ContainsAny(t.String(), ".eE") {
				return bad(key, t.String(), fmt.Errorf("%w: want a string", ErrInvalidValue))
			}
			v = t.String()
		case bool:
			return bad(key, fmt.Sprint(t), fmt.Errorf("%w: want a string", ErrInvalidValue))
		default: // an object or array
			return bad(key, "", fmt.Errorf("%w: want a string, not %s…", ErrInvalidValue, t))
		}
		f.set(key, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return bad("", "", fmt.Errorf("%w: %v", ErrFormat, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("", "", fmt.Errorf("%w: text after the object", ErrFormat))
	}
	for _, name := range requiredColumns {
		if !seen[name] {
			return bad(name, "", ErrMissingField)
		}
	}
	return f, nil
}
