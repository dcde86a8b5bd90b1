/**
 * TypeScript declarations (openapi-typescript's `paths`, `components`, `operations`) of an OpenAPI
 * 3.x document, formatted with the repository's Prettier settings.
 */
export function generateOpenApiTypes(document: object): Promise<string>;
