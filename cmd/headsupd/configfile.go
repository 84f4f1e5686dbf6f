package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	cli "github.com/urfave/cli/v3"
	"go.yaml.in/yaml/v3"
)

// listFlags take a YAML sequence as well as a comma-separated string.
var listFlags = map[string]bool{"nats-url": true}

// notInFile are flags that make no sense as keys of the file itself.
var notInFile = map[string]bool{"config": true, "help": true}

// fileKeys are the keys a config file may hold: every flag's name.
func fileKeys(cmd *cli.Command) map[string]bool {
	keys := map[string]bool{}
	for _, f := range cmd.Flags {
		if name := f.Names()[0]; !notInFile[name] {
			keys[name] = true
		}
	}
	return keys
}

// applyConfigFile sets every flag that neither the command line nor its
// HEADSUP_* variable set from the YAML file at path: a mapping from flag
// names to values. An unknown or repeated key is refused, naming it and
// its line, so a misspelt setting never silently takes its default.
func applyConfigFile(cmd *cli.Command, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty or only comments
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("--config %s: line %d: want a mapping of setting names to values", path, root.Line)
	}
	keys := fileKeys(cmd)
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		switch {
		case !keys[name]:
			return fmt.Errorf("--config %s: line %d: unknown key %q (keys are headsupd's flag names, without the dashes)", path, k.Line, name)
		case seen[name] != 0:
			return fmt.Errorf("--config %s: line %d: key %q repeats line %d", path, k.Line, name, seen[name])
		}
		seen[name] = k.Line
		if cmd.IsSet(name) {
			continue // the command line or the environment wins
		}
		val, err := scalar(name, v)
		if err != nil {
			return fmt.Errorf("--config %s: line %d: %s: %w", path, v.Line, name, err)
		}
		if err := cmd.Set(name, val); err != nil {
			return fmt.Errorf("--config %s: line %d: %s: %q: %w", path, v.Line, name, val, err)
		}
	}
	return nil
}

// scalar is a value node as the flag's command-line spelling.
func scalar(name string, v *yaml.Node) (string, error) {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return "", errors.New("no value (remove the key to take the default, or write \"\" for empty)")
	case v.Kind == yaml.ScalarNode:
		return v.Value, nil
	case v.Kind == yaml.SequenceNode && listFlags[name]:
		var items []string
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
				return "", fmt.Errorf("line %d: want a list of strings", it.Line)
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("want a single value")
}
