module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest'],
  },
  // fauxqs ships ES modules only; Jest runs CommonJS, so it is compiled like our own code.
  transformIgnorePatterns: ['/node_modules/(?!(fauxqs|valibot|toad-cache)/)'],
  moduleNameMapper: { '^fauxqs$': '<rootDir>/node_modules/fauxqs/dist/app.js' },
  setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean'],
  testTimeout: 60000,
  maxWorkers: 2,
};
