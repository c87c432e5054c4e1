// status_page.js HTML JSON -- runs the script of routed's status page (GET /status, saved
// in HTML) against a small fake DOM, its fetch answering with JSON (GET /status.json, saved),
// and prints what the page shows: {"tables": {id: [[cell, ...], ...]}, "text": {id: text},
// "hidden": {id: true|false} for the elements whose hidden it set}.
// Exits 1 when the page has no script or the script throws. Used by run-routed.sh.
'use strict';
const fs = require('fs');
const vm = require('vm');

const html = fs.readFileSync(process.argv[2], 'utf8');
const status = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const m = html.match(/<script>([\s\S]*)<\/script>/);
if (!m) {
	console.error('status_page.js: no <script> in the page');
	process.exit(1);
}

class Node {
	constructor(tag) {
		this.tag = tag;
		this.rows = [];
		this.children = [];
		this.text = '';
	}
	get textContent() {
		return this.text;
	}
	set textContent(v) { // as in a DOM: replaces the children (a table's rows too)
		this.text = String(v);
		this.rows = [];
		this.children = [];
	}
	insertRow() {
		const r = new Node('tr');
		this.rows.push(r);
		return r;
	}
	appendChild(c) {
		this.children.push(c);
		return c;
	}
}

const ids = {};
const document = {
	getElementById(id) {
		if (!ids[id])
			ids[id] = new Node('#' + id);
		return ids[id];
	},
	createElement(tag) {
		return new Node(tag);
	},
};
let fetched = 0;
const sandbox = {
	document,
	fetch(url) {
		if (url !== '/status.json')
			throw new Error('fetched ' + url);
		fetched++;
		return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(status) });
	},
	setTimeout() {}, // one poll is enough here
	console,
	Error,
	Object,
};
vm.createContext(sandbox);
try {
	vm.runInContext(m[1], sandbox);
} catch (e) {
	console.error('status_page.js: the script threw: ' + e.message);
	process.exit(1);
}
setImmediate(() => {
	const out = { fetched, tables: {}, text: {}, hidden: {} };
	for (const [id, n] of Object.entries(ids)) {
		if ('hidden' in n)
			out.hidden[id] = n.hidden;
		if (n.rows.length)
			out.tables[id] = n.rows.map((r) => r.children.map((c) => c.textContent));
		else
			out.text[id] = n.textContent;
	}
	console.log(JSON.stringify(out));
});
