package directory

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// BumpSerial returns yamlText with its serial raised by one and every
// other byte unchanged (comments, order and layout stay as the author
// wrote them), for signing a new version. yamlText must Parse, and so must
// the result, to the same directory but for the serial.
func BumpSerial(yamlText []byte) ([]byte, error) {
	d, err := Parse(yamlText)
	if err != nil {
		return nil, err
	}
	if d.Serial == math.MaxUint64 {
		return nil, fmt.Errorf("serial: %d cannot be raised", d.Serial)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(yamlText, &doc); err != nil {
		return nil, err
	}
	v := serialNode(&doc)
	if v == nil || v.Kind != yaml.ScalarNode || v.Style != 0 || v.Line < 1 || v.Column < 1 {
		return nil, errors.New("serial: not a plain number on its own line; raise it by hand")
	}
	// The node's position gives the line and the column in characters.
	start := 0
	for line := 1; line < v.Line; line++ {
		i := bytes.IndexByte(yamlText[start:], '\n')
		if i < 0 {
			return nil, errors.New("serial: position not found; raise it by hand")
		}
		start += i + 1
	}
	for col := 1; col < v.Column && start < len(yamlText); col++ {
		_, size := utf8.DecodeRune(yamlText[start:])
		start += size
	}
	if !bytes.HasPrefix(yamlText[start:], []byte(v.Value)) {
		return nil, errors.New("serial: position not found; raise it by hand")
	}
	next := strconv.FormatUint(d.Serial+1, 10)
	out := make([]byte, 0, len(yamlText)+len(next))
	out = append(out, yamlText[:start]...)
	out = append(out, next...)
	out = append(out, yamlText[start+len(v.Value):]...)

	// Whatever the YAML spelt, the result must say the same but the serial.
	d2, err := Parse(out)
	if err != nil || d2.Serial != d.Serial+1 {
		return nil, errors.New("serial: could not be raised in place; raise it by hand")
	}
	d2.Serial = d.Serial
	a, err1 := Marshal(d)
	b, err2 := Marshal(d2)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return nil, errors.New("serial: could not be raised in place; raise it by hand")
	}
	return out, nil
}

// serialNode finds the value of the top-level serial key.
func serialNode(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "serial" {
			return root.Content[i+1]
		}
	}
	return nil
}
