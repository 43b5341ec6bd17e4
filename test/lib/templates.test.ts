import assert from 'node:assert/strict';
import {
  checkBodies, checkBody, extractVariables, firstNameOf, pickBody, renderTemplate, variablesOf,
} from '../../lib/templates.js';

describe('lib/templates', () => {
  it('extractVariables lists each variable once, in order, tolerating spaces inside the braces', () => {
    assert.deepEqual(extractVariables('Hi {{name}}, see {{ doctor }} on {{date}} at {{time}}; bye {{name}}'), ['name', 'doctor', 'date', 'time']);
    assert.deepEqual(extractVariables('no placeholders'), []);
  });

  it('renderTemplate fills known values and leaves the others in canonical form', () => {
    assert.equal(renderTemplate('Hola {{ name }}, {{clinic}} te espera el {{date}}', { name: 'Ana', clinic: 'Clínica Sol' }), 'Hola Ana, Clínica Sol te espera el {{date}}');
  });

  it('renderTemplate does not expand placeholders found inside a value', () => {
    assert.equal(renderTemplate('Hi {{name}} from {{clinic}}', { name: '{{clinic}}', clinic: 'Sol' }), 'Hi {{clinic}} from Sol');
  });

  it('checkBody names the field and the unknown variable, and rejects malformed placeholders', () => {
    const unknown = checkBody('bodies.es', 'Hola {{nombre}}');
    assert.equal(unknown.length, 1);
    assert.equal(unknown[0].field, 'bodies.es');
    assert.match(unknown[0].message, /\{\{nombre\}\}/);
    assert.equal(checkBody('message', 'Hi {{name}').length, 1);
    assert.equal(checkBody('message', 'Hi {{name}}').length, 0);
  });

  it('checkBodies reports a language whose variables differ from the reference body', () => {
    const problems = checkBodies({ en: 'Hi {{name}} at {{time}}', es: 'Hola {{name}}', ca: 'Hola {{name}} a les {{time}}' });
    assert.deepEqual(problems.map((p) => p.field), ['bodies.es']);
    assert.match(problems[0].message, /lacks \{\{time\}\}/);
    assert.deepEqual(checkBodies({ es: 'Hola {{name}}', en: 'Hi {{name}}' }), []);
  });

  it('variablesOf lists the variables of every body in the fixed variable order', () => {
    assert.deepEqual(variablesOf({ en: '{{time}} {{name}}', es: '{{time}} {{name}}' }), ['name', 'time']);
  });

  it('pickBody falls back from the patient language to the clinic default, then to the first body', () => {
    const bodies = { es: 'Hola', ca: 'Hola (ca)', hi: 'Namaste' };
    assert.deepEqual(pickBody(bodies, 'ca', 'en'), { language: 'ca', body: 'Hola (ca)' });
    assert.deepEqual(pickBody(bodies, 'en', 'hi'), { language: 'hi', body: 'Namaste' });
    assert.deepEqual(pickBody(bodies, 'en', 'en'), { language: 'es', body: 'Hola' });
  });

  it('firstNameOf takes the first word of a name', () => {
    assert.equal(firstNameOf('  Ana María López '), 'Ana');
  });
});
