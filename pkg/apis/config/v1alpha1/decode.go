package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Decoding goes in three steps, so that every problem is reported with its
// field path, not only the first, and the rest can still be validated:
//
//  1. sigs.k8s.io/yaml converts the YAML to JSON, as for any Kubernetes
//     object. A syntax error ends here, with its line.
//  2. The YAML node tree gives duplicate keys (which the conversion would
//     silently resolve to the last one) their path and lines.
//  3. The JSON is decoded into generic values, which are walked against
//     the Go types: an unknown field, a value of the wrong type or a bad
//     duration is reported at its path and taken out (which leaves the
//     field at its default), so the strict decode of what is left cannot
//     fail. metav1.Duration's own error would carry no path, and
//     encoding/json stops at the first one.

// decode implements DecodePartial.
func decode(data []byte) (*Configuration, field.ErrorList, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errors.New("empty configuration")
	}
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, syntaxError(data, err)
	}
	d := &decoder{lines: map[string]int{}}
	if err := d.yamlNodes(data); err != nil {
		return nil, nil, err
	}
	var generic any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(jsonData, &generic); err != nil {
		return nil, nil, fmt.Errorf("decoding the configuration: %w", err)
	}
	obj, ok := generic.(map[string]any)
	switch {
	case generic == nil:
		return nil, nil, errors.New("empty configuration")
	case !ok:
		return nil, nil, fmt.Errorf("a configuration is a mapping (apiVersion: %s/%s, kind: %s, ...), not %s", GroupName, Version, Kind, jsonKind(generic))
	}
	d.object(obj, reflect.TypeFor[Configuration](), nil)

	pruned, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding the configuration: %w", err)
	}
	cfg := &Configuration{}
	// Everything UnmarshalStrict could refuse was taken out above; an
	// error here means the two disagree, and must not pass silently.
	strictErrs, err := kjson.UnmarshalStrict(pruned, cfg)
	if err = errors.Join(append(strictErrs, err)...); err != nil {
		return nil, nil, fmt.Errorf("decoding the configuration: %w", err)
	}
	d.typeMeta(cfg)
	sort.SliceStable(d.errs, func(i, j int) bool { return d.line(d.errs[i]) < d.line(d.errs[j]) })
	SetDefaults(cfg)
	return cfg, d.errs, nil
}

// decoder collects decoding errors and remembers the line of every path
// in the file, to list the errors in the order of the file.
type decoder struct {
	errs  field.ErrorList
	lines map[string]int
}

func (d *decoder) line(e *field.Error) int { return d.lines[e.Field] }

// lineRE finds the line number in a YAML parser's error.
var lineRE = regexp.MustCompile(`line (\d+)`)

// syntaxError words the YAML parser's error. The parser leaves out the
// line when it is the first one (it takes line 0 for "unknown"), so the
// data is parsed again one line down to find it.
func syntaxError(data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if !lineRE.MatchString(msg) {
		shifted := append([]byte("\n"), bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))...)
		if _, err2 := yaml.YAMLToJSON(shifted); err2 != nil {
			if m := lineRE.FindStringSubmatch(err2.Error()); m != nil {
				if n, _ := strconv.Atoi(m[1]); n > 1 {
					msg = fmt.Sprintf("line %d: %s", n-1, msg)
				}
			}
		}
	}
	return fmt.Errorf("not valid YAML: %s", msg)
}

// yamlNodes reads the file as a YAML node tree: the lines of every path,
// duplicate keys, and a second document, which would otherwise be
// ignored.
func (d *decoder) yamlNodes(data []byte) error {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var doc yamlv3.Node
	if err := dec.Decode(&doc); err != nil {
		// The node parser refuses what the converter accepted: fall back
		// on the converter's own strict mode for duplicates, with lines.
		if _, strictErr := yaml.YAMLToJSONStrict(data); strictErr != nil {
			return fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(strictErr.Error(), "yaml: "))
		}
		return nil
	}
	d.nodes(&doc, nil)
	var next yamlv3.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("a second YAML document follows the configuration, and it is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	case len(next.Content) > 0 && next.Content[0].Tag != "!!null":
		return fmt.Errorf("line %d: a second YAML document; a configuration file holds one (remove the --- line)", next.Content[0].Line)
	}
	return nil
}

func (d *decoder) nodes(n *yamlv3.Node, p *field.Path) {
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, c := range n.Content {
			d.nodes(c, p)
		}
	case yamlv3.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yamlv3.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			kp := p.Child(k.Value)
			if first, dup := seen[k.Value]; dup {
				e := field.Duplicate(kp, field.OmitValueType{})
				e.Detail = fmt.Sprintf("the key is on lines %d and %d; give it once", first, k.Line)
				d.errs = append(d.errs, e)
				continue
			}
			seen[k.Value] = k.Line
			d.lines[kp.String()] = k.Line
			d.nodes(v, kp)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			d.lines[p.Index(i).String()] = c.Line
			d.nodes(c, p.Index(i))
		}
	}
}

// typeMeta checks apiVersion and kind, unless they already failed to
// decode.
func (d *decoder) typeMeta(cfg *Configuration) {
	for _, f := range []struct{ name, got, want string }{
		{"apiVersion", cfg.APIVersion, GroupName + "/" + Version},
		{"kind", cfg.Kind, Kind},
	} {
		p := field.NewPath(f.name)
		switch {
		case slices.ContainsFunc(d.errs, func(e *field.Error) bool { return e.Field == f.name }):
		case f.got == "":
			d.errs = append(d.errs, field.Required(p, fmt.Sprintf("must be %q", f.want)))
		case f.got != f.want:
			d.errs = append(d.errs, field.NotSupported(p, f.got, []string{f.want}))
		}
	}
}

var (
	durationType    = reflect.TypeFor[metav1.Duration]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// durationHint follows a duration's parse error.
const durationHint = " (a duration such as 30s, 5m or 1h30m; units ns, us, ms, s, m, h)"

// value checks the generic value v against the Go type t, reporting every
// problem at p, and returns what to keep: v, or nil when it cannot be
// decoded into t (or is null): a field is then left out, a list element
// left at its zero value.
func (d *decoder) value(v any, t reflect.Type, p *field.Path) any {
	if v == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if _, ok := v.(string); !ok {
			return d.typeError(v, "a duration such as 30s, 5m or 1h30m", p)
		}
		return d.unmarshal(v, t, p, durationHint)
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return d.unmarshal(v, t, p, "")
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return d.typeError(v, "a string", p)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return d.typeError(v, "a boolean (true or false)", p)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			return d.typeError(v, "an integer", p)
		}
		if reflect.New(t).Elem().OverflowInt(n) {
			limit := int64(1)<<(t.Bits()-1) - 1
			return d.invalid(v, fmt.Sprintf("must be between %d and %d", -limit-1, limit), p)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			return d.typeError(v, "an integer", p)
		}
		if n < 0 || reflect.New(t).Elem().OverflowUint(uint64(n)) {
			return d.invalid(v, fmt.Sprintf("must be between 0 and %d", uint64(1)<<t.Bits()-1), p)
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			return d.typeError(v, "a number", p)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return d.unmarshal(v, t, p, "")
		}
		list, ok := v.([]any)
		if !ok {
			return d.typeError(v, "a list", p)
		}
		for i := range list {
			list[i] = d.value(list[i], t.Elem(), p.Index(i))
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return d.typeError(v, "a mapping", p)
		}
		if t.Key().Kind() != reflect.String {
			return d.unmarshal(v, t, p, "")
		}
		for _, k := range sortedKeys(obj) {
			obj[k] = d.value(obj[k], t.Elem(), p.Key(k))
		}
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return d.typeError(v, "a mapping", p)
		}
		d.object(obj, t, p)
	case reflect.Interface:
	default:
		return d.unmarshal(v, t, p, "")
	}
	return v
}

// object checks the fields of a struct, and takes unknown ones out.
func (d *decoder) object(obj map[string]any, t reflect.Type, p *field.Path) {
	fields := jsonFields(t)
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.name)
		v, ok := obj[f.name]
		if !ok {
			continue
		}
		// A field is taken out rather than set to null: an Unmarshaler
		// such as metav1.Duration is handed null, and refuses it.
		if v = d.value(v, f.typ, p.Child(f.name)); v == nil {
			delete(obj, f.name)
		} else {
			obj[f.name] = v
		}
	}
	for _, k := range sortedKeys(obj) {
		if slices.Contains(names, k) {
			continue
		}
		detail := "unknown field"
		if s := suggest(k, names); s != "" {
			detail += fmt.Sprintf("; did you mean %q?", s)
		}
		d.errs = append(d.errs, field.Forbidden(p.Child(k), detail))
		delete(obj, k)
	}
}

// unmarshal decodes v into a t as the strict decode will, and reports its
// error at p.
func (d *decoder) unmarshal(v any, t reflect.Type, p *field.Path, hint string) any {
	raw, err := json.Marshal(v)
	if err == nil {
		err = kjson.UnmarshalCaseSensitivePreserveInts(raw, reflect.New(t).Interface())
	}
	if err != nil {
		return d.invalid(v, err.Error()+hint, p)
	}
	return v
}

func (d *decoder) invalid(v any, detail string, p *field.Path) any {
	d.errs = append(d.errs, field.Invalid(p, badValue(v), detail))
	return nil
}

func (d *decoder) typeError(v any, want string, p *field.Path) any {
	d.errs = append(d.errs, field.TypeInvalid(p, badValue(v), fmt.Sprintf("expected %s, got %s", want, jsonKind(v))))
	return nil
}

// badValue is v when it is a scalar; a list or mapping is left out of the
// message.
func badValue(v any) any {
	switch v.(type) {
	case string, int64, float64, bool:
		return v
	}
	return field.OmitValueType{}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields are the fields encoding/json decodes into a struct of type
// t, embedded structs without a name (such as an inline TypeMeta)
// flattened.
func jsonFields(t reflect.Type) []jsonField {
	var fields []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				fields = append(fields, jsonFields(ft)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, jsonField{name: name, typ: sf.Type})
	}
	return fields
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns the name closest to k, when it is close enough to be a
// misspelling of it: the same but for case, or at most two edits away.
func suggest(k string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return n
		}
		if dist := editDistance(strings.ToLower(k), strings.ToLower(n)); dist < bestDist && dist < len(n)/2 {
			best, bestDist = n, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
