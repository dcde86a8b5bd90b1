/**
 * One formatting style for the whole repository (referenced from the root package.json, as
 * create-t3-turbo does). 100 columns: the width the code was written to before the formatter.
 * @type {import('prettier').Config}
 */
export default {
  printWidth: 100,
  singleQuote: true,
  trailingComma: 'all',
  semi: true,
  arrowParens: 'always',
  proseWrap: 'preserve',
};
