/**
 * Checks real answers against the OpenAPI document the API serves: the operation the request
 * reached (matched by method and path template, literal segments first, as the router does), a
 * status that operation documents, the documented content type, an empty body for 204/304, and a
 * JSON body that validates against the documented schema (Ajv, JSON Schema 2020-12 as OpenAPI 3.1).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  literals: number;
  responses: Record<string, { content?: Record<string, unknown> }>;
}

/** What a client saw: enough to check it against the document. */
export interface ObservedAnswer {
  method: string;
  /** Path and query, as requested. */
  url: string;
  status: number;
  contentType: string | null;
  body: string;
}

/** A JSON pointer token inside a URI fragment (RFC 6901, then percent-encoded). */
const pointerToken = (token: string) =>
  encodeURIComponent(token.replaceAll('~', '~0').replaceAll('/', '~1'));

export class OpenApiContract {
  private readonly ajv: Ajv2020;
  private readonly operations: Operation[] = [];

  constructor(document: Record<string, any>) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    (addFormatsModule as unknown as (ajv: Ajv2020) => void)(this.ajv);
    this.ajv.addSchema({ ...document, $id: 'served' });
    for (const [template, item] of Object.entries(document.paths as Record<string, any>)) {
      const segments = template.split('/');
      const pattern = new RegExp(
        `^${segments.map((segment) => (/^\{.+\}$/.test(segment) ? '[^/]+' : escapeRegExp(segment))).join('/')}$`,
      );
      const literals = segments.filter((segment) => !segment.startsWith('{')).length;
      for (const [method, operation] of Object.entries(item as Record<string, any>))
        this.operations.push({
          method: method.toUpperCase(),
          template,
          pattern,
          literals,
          responses: operation.responses,
        });
    }
    this.operations.sort((a, b) => b.literals - a.literals);
  }

  /** The documented operation a request reaches, if any. */
  operationOf(method: string, url: string): Operation | undefined {
    const path = new URL(url, 'http://x').pathname;
    return this.operations.find(
      (operation) => operation.method === method.toUpperCase() && operation.pattern.test(path),
    );
  }

  /** What is wrong with an answer, or undefined when it conforms (or reached no operation). */
  problem(answer: ObservedAnswer): string | undefined {
    const operation = this.operationOf(answer.method, answer.url);
    if (!operation) return undefined;
    const where = `${answer.method} ${answer.url} -> ${answer.status}`;
    const response = operation.responses[String(answer.status)];
    if (!response)
      return `${where}: status not documented for ${answer.method} ${operation.template} (documented: ${Object.keys(operation.responses).join(', ')}); body ${answer.body.slice(0, 300)}`;
    if (answer.status === 204 || answer.status === 304)
      return answer.body === '' ? undefined : `${where}: a body where none may be`;
    const content = response.content;
    if (!content) return answer.body === '' ? undefined : `${where}: an undocumented body`;
    const mediaType = (answer.contentType ?? '').split(';')[0]!.trim();
    if (!(mediaType in content))
      return `${where}: content type ${answer.contentType} not documented (${Object.keys(content).join(', ')})`;
    if (mediaType !== 'application/json') return undefined;
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      return `${where}: body is not JSON: ${answer.body.slice(0, 200)}`;
    }
    const ref = [
      'paths',
      operation.template,
      operation.method.toLowerCase(),
      'responses',
      String(answer.status),
      'content',
      mediaType,
      'schema',
    ]
      .map(pointerToken)
      .join('/');
    const validate = this.ajv.getSchema(`served#/${ref}`);
    if (!validate) return `${where}: no schema at ${ref}`;
    if (validate(body)) return undefined;
    return `${where}: ${this.ajv.errorsText(validate.errors)}; body ${answer.body.slice(0, 300)}`;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\~]/g, '\\$&');
}

/** Reads a fetch Response into what `OpenApiContract.problem` checks. */
export async function observe(
  method: string,
  url: string,
  response: Response,
): Promise<ObservedAnswer> {
  return {
    method,
    url,
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: await response.text(),
  };
}
