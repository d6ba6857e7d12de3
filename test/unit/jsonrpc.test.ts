import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CallToolResultSchema,
  JSONRPCMessageSchema,
  JSONRPCRequestSchema,
  JSONRPCResultResponseSchema,
} from '@modelcontextprotocol/sdk/types.js';
import {
  isNotification,
  isRequest,
  isResponse,
  plainRequest,
  plainResult,
  plainToolResult,
} from '../../src/domain/jsonrpc.js';

/**
 * domain/jsonrpc.ts skips the SDK's zod parse for plain requests on /mcp's hot
 * path (issue 13): it may say yes only where the SDK's schema says yes, and it
 * must say yes to the requests clients really send.
 */
const CASES: string[] = [
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}',
  '{"jsonrpc":"2.0","id":"a-1","method":"tools/list"}',
  '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"p1"}}}',
  '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"progressToken":3,"other":true}}}',
  '{"jsonrpc":"2.0","id":0,"method":"ping","params":{}}',
  // Not requests, or not plain: the schema decides.
  '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
  '{"jsonrpc":"2.0","id":null,"method":"ping"}',
  '{"jsonrpc":"2.0","id":1152921504606846976,"method":"ping"}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":null}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":null}}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"progressToken":1.5}}}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"progressToken":{}}}}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t"}}}}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/related-task":5}}}',
  '{"jsonrpc":"1.0","id":1,"method":"ping"}',
  '{"jsonrpc":"2.0","id":1,"method":5}',
  '{"jsonrpc":"2.0","id":{},"method":"ping"}',
  '{"jsonrpc":"2.0","id":1,"method":"ping","__proto__":{"x":1}}',
  '{"jsonrpc":"2.0","method":"notifications/initialized"}',
  '{"jsonrpc":"2.0","id":1,"result":{}}',
  '{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}',
  '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
  '"ping"',
  'null',
];

test('plainRequest says yes only where the SDK schema does, and to the requests clients send', () => {
  let plain = 0;
  for (const text of CASES) {
    const m = JSON.parse(text) as unknown;
    if (plainRequest(m)) {
      plain++;
      assert.ok(JSONRPCRequestSchema.safeParse(m).success, `accepted, but the SDK refuses: ${text}`);
    }
  }
  assert.equal(plain, 5, 'the five plain requests at the top are recognised');
});

test('isRequest, isNotification and isResponse agree with the SDK on valid messages', () => {
  for (const text of CASES) {
    const parsed = JSONRPCMessageSchema.safeParse(JSON.parse(text));
    if (!parsed.success) continue;
    const m = parsed.data;
    const kinds = [isRequest(m), isNotification(m), isResponse(m)];
    assert.equal(kinds.filter(Boolean).length, 1, `exactly one kind: ${text}`);
    assert.equal(isRequest(m), JSONRPCRequestSchema.safeParse(m).success, text);
  }
});

test('plainResult says yes only where the SDK schema does', () => {
  const results = [
    '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}',
    '{"jsonrpc":"2.0","id":"x","result":{}}',
    '{"jsonrpc":"2.0","id":2,"result":{"_meta":{"progressToken":1}}}',
    '{"jsonrpc":"2.0","id":null,"result":{}}',
    '{"jsonrpc":"2.0","id":1,"result":null}',
    '{"jsonrpc":"2.0","id":1,"result":[]}',
    '{"jsonrpc":"2.0","id":1,"result":{},"extra":1}',
    '{"jsonrpc":"2.0","id":1.5,"result":{}}',
    '{"jsonrpc":"2.0","id":1,"result":{"_meta":5}}',
    '{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}',
    '{"jsonrpc":"2.0","result":{}}',
  ];
  let plain = 0;
  for (const text of results) {
    const m = JSON.parse(text) as unknown;
    if (plainResult(m)) {
      plain++;
      assert.ok(JSONRPCResultResponseSchema.safeParse(m).success, `accepted, but the SDK refuses: ${text}`);
    }
  }
  assert.equal(plain, 3, 'the three plain results at the top are recognised');
});

test('plainToolResult says yes only to results the SDK schema yields unchanged', () => {
  const results = [
    // Plain: what the gateway's direct path takes without a parse.
    '{"content":[{"type":"text","text":"Echo: hello"}]}',
    '{"content":[],"isError":true}',
    '{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"structuredContent":{"n":1}}',
    '{"content":[{"type":"text","text":"x"}],"_meta":{"progressToken":"p"}}',
    // Not plain: the schema decides (and may refuse, or fill in a default).
    '{}',
    '{"content":{}}',
    '{"content":[{"type":"text","text":5}]}',
    '{"content":[{"type":"text"}]}',
    '{"content":[{"type":"image","data":"AA==","mimeType":"image/png"}]}',
    '{"content":[{"type":"text","text":"x","annotations":{"priority":0.5}}]}',
    '{"content":[{"type":"text","text":"x","annotations":{"priority":7}}]}',
    '{"content":[],"isError":"yes"}',
    '{"content":[],"structuredContent":[1]}',
    '{"content":[],"toolResult":1}',
    '{"content":[],"_meta":{"progressToken":1.5}}',
    '{"content":[null]}',
    'null',
    '[]',
  ];
  let plain = 0;
  for (const text of results) {
    const value = JSON.parse(text) as unknown;
    if (!plainToolResult(value)) continue;
    plain++;
    const parsed = CallToolResultSchema.safeParse(value);
    assert.ok(parsed.success, `accepted, but the SDK refuses: ${text}`);
    assert.deepEqual(parsed.data, value, `the SDK would change it: ${text}`);
  }
  assert.equal(plain, 4, 'the four plain results at the top are recognised');
});
