// Placeholder while this function is being written: fails loudly instead of pretending to work.
export const handler = async (): Promise<never> => {
  throw new Error('not implemented yet');
};
