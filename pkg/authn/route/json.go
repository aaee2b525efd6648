package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// fields are the top-level members of a JSON object.
type fields map[string]json.RawMessage

// objectFields reads one JSON object and refuses duplicate member names.
// encoding/json keeps the last duplicate (and matches names without regard
// to case), while go-jose rejects duplicates: reading members one by one, by
// exact name, makes routing see what the verifier will see.
func objectFields(data []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	f := fields{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("invalid JSON")
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, errors.New("invalid JSON")
		}
		if _, dup := f[name]; dup {
			return nil, errors.New("duplicate member name")
		}
		f[name] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("invalid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return f, nil
}

// decode unmarshals member name into dst when present.
func (f fields) decode(name string, dst any) error {
	raw, ok := f[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s has the wrong type", name)
	}
	return nil
}
