import test from 'ava';
import { sourceOf } from '../../lib/k8s/sources.ts';
import { renderTemplate, TemplateError } from '../../lib/render/template.ts';

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{NAME}}
  namespace: {{NAMESPACE}}
data:
  port: "{{PORT}}"
  url: https://{{HOSTNAME}}{{ROUTE}}
  note: {{NOTE}}
{{#DEBUG}}
  debug: "true"
{{/DEBUG}}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: {{NAME}}, namespace: {{NAMESPACE}} }
spec:
  replicas: {{REPLICAS}}
`;
const values = { NAME: 'hub', NAMESPACE: 'nublado', PORT: 8081, HOSTNAME: 'nb.example.org', ROUTE: '/nb', NOTE: 'plain', DEBUG: false, REPLICAS: 2 };

test('values are inserted with their types where they are whole scalars, as text inside strings and quotes', t => {
	const [map, deployment] = renderTemplate(configMap, values, 'templates/hub/config.yaml');
	t.deepEqual(map, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hub', namespace: 'nublado' }, data: { port: '8081', url: 'https://nb.example.org/nb', note: 'plain' } });
	t.is((deployment!.spec as { replicas: unknown }).replicas, 2);
	t.deepEqual(sourceOf(deployment!), { file: 'templates/hub/config.yaml', document: 2 });
	const [withDebug] = renderTemplate(configMap, { ...values, DEBUG: true }, 'x.yaml');
	t.is((withDebug!.data as Record<string, string>).debug, 'true');
});

test('a value cannot change the structure: newlines, ": ", "#", quotes and YAML markers stay one string', t => {
	const nasty = 'x"\nextra: injected # comment\n- item\n---\nkind: Secret';
	const [map] = renderTemplate(configMap, { ...values, NOTE: nasty, NAME: 'a: b' }, 'x.yaml');
	t.is((map!.data as Record<string, string>).note, nasty);
	t.is(map!.metadata.name, 'a: b');
	t.deepEqual(Object.keys(map!.data as object), ['port', 'url', 'note']);
	t.is(renderTemplate(configMap, { ...values, NOTE: nasty }, 'x.yaml').length, 2);
});

test('every missing value is an error naming file, variable and line; there is no HTML escaping', t => {
	const error = t.throws(() => renderTemplate(configMap, { NAME: 'hub' }, 'templates/hub/config.yaml'), { instanceOf: TemplateError });
	t.is(
		error!.message,
		'templates/hub/config.yaml: no value for {{NAMESPACE}} (line 5), {{PORT}} (line 7), {{HOSTNAME}} (line 8), {{ROUTE}} (line 8), {{NOTE}} (line 9), {{DEBUG}} (line 10), {{REPLICAS}} (line 18); given: NAME',
	);
	const [map] = renderTemplate(configMap, { ...values, NOTE: '<b>&"\'</b>' }, 'x.yaml');
	t.is((map!.data as Record<string, string>).note, '<b>&"\'</b>');
});

test('broken templates: bad YAML, a section on a non-boolean, unsupported tags', t => {
	t.throws(() => renderTemplate('a: [1, 2\nb: {{X}}\n', { X: 1 }, 'bad.yaml'), { message: /^bad\.yaml:\d+: not valid YAML: / });
	t.throws(() => renderTemplate('{{#X}}a: 1{{/X}}\n', { X: 'yes' }, 's.yaml'), { message: 's.yaml:1: section {{#X}} needs a true or false value, got "yes"' });
	t.throws(() => renderTemplate('a: {{> partial}}\n', {}, 'p.yaml'), { message: 'p.yaml:1: {{>partial}} is not supported (variables and true/false sections only)' });
	t.throws(() => renderTemplate('- 1\n- 2\n', {}, 'list.yaml'), { message: 'list.yaml (document 1): a manifest must be a mapping' });
});
